/// Expressions of the supported Jinja subset, each with the position of the token that introduced it.
struct JinjaExpression: Sendable {
    indirect enum Kind: Sendable {
        case literal(JinjaValue)
        case variable(String)
        case list([JinjaExpression])
        case dictionary([(key: JinjaExpression, value: JinjaExpression)])
        /// `object.name`
        case attribute(JinjaExpression, String)
        /// `object[index]`
        case index(JinjaExpression, JinjaExpression)
        /// `object[start:stop:step]`, each part optional.
        case slice(JinjaExpression, start: JinjaExpression?, stop: JinjaExpression?, step: JinjaExpression?)
        case call(JinjaExpression, JinjaCallArguments)
        /// `value | name(arguments)`
        case filter(JinjaExpression, name: String, JinjaCallArguments)
        /// `value is [not] name(arguments)`
        case test(JinjaExpression, name: String, JinjaCallArguments, negated: Bool)
        case negate(JinjaExpression)
        case plus(JinjaExpression)
        case not(JinjaExpression)
        case and(JinjaExpression, JinjaExpression)
        case or(JinjaExpression, JinjaExpression)
        /// `+ - * / // % **`
        case arithmetic(String, JinjaExpression, JinjaExpression)
        /// `a ~ b ~ c`
        case concatenate([JinjaExpression])
        /// A chain such as `a < b <= c`, with operators `== != < <= > >= in notin`.
        case compare(JinjaExpression, [(op: String, operand: JinjaExpression)])
        /// `value if condition else otherwise`; without `else` the result is Undefined.
        case conditional(condition: JinjaExpression, value: JinjaExpression, otherwise: JinjaExpression?)
    }

    let kind: Kind
    let location: TemplateLocation
}

struct JinjaCallArguments: Sendable {
    var positional: [JinjaExpression] = []
    var keywords: [(name: String, value: JinjaExpression)] = []
}

/// Where `{% set %}` and `{% for %}` store values.
enum JinjaAssignmentTarget: Sendable {
    case name(String)
    /// `ns.attribute`: only namespace objects accept it.
    case attribute(object: String, attribute: String)
    /// `a, b` unpacking.
    case tuple([JinjaAssignmentTarget])
}

/// Statements of the template body.
indirect enum JinjaNode: Sendable {
    case text(String)
    case output(JinjaExpression)
    /// `if`/`elif` branches in order, then the `else` body (empty when absent).
    case conditional(branches: [(condition: JinjaExpression, body: [JinjaNode])], otherwise: [JinjaNode])
    case forLoop(JinjaForLoop)
    case assign(JinjaAssignmentTarget, JinjaExpression, location: TemplateLocation)
    /// `{% set name %}…{% endset %}` captures the rendered body as a string.
    case assignBlock(JinjaAssignmentTarget, body: [JinjaNode], location: TemplateLocation)
    case breakLoop(location: TemplateLocation)
    case continueLoop(location: TemplateLocation)
    /// transformers' `{% generation %}…{% endgeneration %}` marker: renders its body unchanged.
    case generation([JinjaNode])
    /// `{% macro name(parameters) %}…{% endmacro %}` defines a callable returning its rendered body.
    case macro(JinjaMacro)
}

struct JinjaMacro: Sendable {
    let name: String
    /// Parameters in order, each with its default (evaluated at call time), if any.
    let parameters: [(name: String, defaultValue: JinjaExpression?)]
    let body: [JinjaNode]
}

struct JinjaForLoop: Sendable {
    let target: JinjaAssignmentTarget
    let iterable: JinjaExpression
    /// `for x in items if condition`: items failing the condition are skipped and do not count in `loop`.
    let filter: JinjaExpression?
    let body: [JinjaNode]
    /// `{% else %}` body, rendered when no item was iterated.
    let otherwise: [JinjaNode]
    let location: TemplateLocation
}
