/// The template-level variables: the ones passed in and those set outside any loop or macro. Shared by reference
/// so that macros see them as they are when called.
final class JinjaRootScope: @unchecked Sendable {
    var values: [String: JinjaValue]

    init(_ values: [String: JinjaValue]) { self.values = values }
}

/// Executes a parsed template against a set of variables, with Jinja's scoping: each for-loop iteration and each
/// macro call gets its own scope (so `{% set %}` inside a loop does not leak out, which is why templates use
/// `namespace()`), while `if` bodies share the enclosing one. Names resolve innermost scope first, then the
/// template-level variables, then the globals (`raise_exception`, `namespace`, …).
struct JinjaRenderer {
    private let root: JinjaRootScope
    private var scopes: [[String: JinjaValue]]

    init(variables: [String: JinjaValue]) {
        self.init(root: JinjaRootScope(variables), scopes: [])
    }

    private init(root: JinjaRootScope, scopes: [[String: JinjaValue]]) {
        self.root = root
        self.scopes = scopes
    }

    /// How a statement list finished: normally, or by `{% break %}` / `{% continue %}` inside a loop.
    private enum Flow { case normal, breakLoop, continueLoop }

    mutating func render(_ nodes: [JinjaNode]) throws -> String {
        var output = ""
        _ = try execute(nodes, into: &output)
        return output
    }

    // MARK: statements

    private mutating func execute(_ nodes: [JinjaNode], into output: inout String) throws -> Flow {
        for node in nodes {
            switch node {
            case .text(let text):
                output += text
            case .output(let expression):
                output += try evaluate(expression).renderedText
            case .conditional(let branches, let otherwise):
                let chosen = try branches.first { try evaluate($0.condition).isTruthy }?.body ?? otherwise
                let flow = try execute(chosen, into: &output)
                if flow != .normal { return flow }
            case .forLoop(let loop):
                try executeLoop(loop, into: &output)
            case .assign(let target, let expression, let location):
                try assign(try evaluate(expression), to: target, location: location)
            case .assignBlock(let target, let body, let location):
                var captured = ""
                _ = try execute(body, into: &captured)
                try assign(.string(captured), to: target, location: location)
            case .breakLoop:
                return .breakLoop
            case .continueLoop:
                return .continueLoop
            case .generation(let body):
                let flow = try execute(body, into: &output)
                if flow != .normal { return flow }
            case .macro(let macro):
                assign(name: macro.name, .function(makeMacro(macro)))
            }
        }
        return .normal
    }

    private mutating func executeLoop(_ loop: JinjaForLoop, into output: inout String) throws {
        var items = try iterate(try evaluate(loop.iterable), location: loop.iterable.location)
        if let filter = loop.filter {
            var kept: [JinjaValue] = []
            for item in items {
                scopes.append([:])
                defer { scopes.removeLast() }
                try assign(item, to: loop.target, location: loop.location)
                if try evaluate(filter).isTruthy { kept.append(item) }
            }
            items = kept
        }
        guard !items.isEmpty else {
            _ = try execute(loop.otherwise, into: &output)
            return
        }
        for (index, item) in items.enumerated() {
            var attributes = JinjaDictionary([
                ("index0", .integer(index)), ("index", .integer(index + 1)),
                ("revindex0", .integer(items.count - index - 1)), ("revindex", .integer(items.count - index)),
                ("first", .bool(index == 0)), ("last", .bool(index == items.count - 1)),
                ("length", .integer(items.count)), ("depth", .integer(1)), ("depth0", .integer(0)),
                ("previtem", index > 0 ? items[index - 1] : .undefined(hint: "there is no previous item")),
                ("nextitem", index + 1 < items.count ? items[index + 1] : .undefined(hint: "there is no next item")),
            ])
            attributes["cycle"] = .function(JinjaFunction(name: "loop.cycle") { arguments in
                guard !arguments.positional.isEmpty else {
                    throw ChatTemplateError(.render, "loop.cycle() needs at least one value")
                }
                return arguments.positional[index % arguments.positional.count]
            })
            scopes.append(["loop": .object(JinjaObject(typeName: "LoopContext", acceptsAssignment: false,
                                                       attributes: attributes))])
            defer { scopes.removeLast() }
            try assign(item, to: loop.target, location: loop.location)
            if try execute(loop.body, into: &output) == .breakLoop { break }
        }
    }

    /// The items a for loop visits: list items, dict keys, string characters; nothing for Undefined.
    private func iterate(_ value: JinjaValue, location: TemplateLocation) throws -> [JinjaValue] {
        switch value {
        case .undefined: return []
        case .list(let items): return items
        case .dictionary(let dictionary): return dictionary.keys.map { .string($0) }
        case .string(let text): return text.unicodeScalars.map { .string(String($0)) }
        default: throw ChatTemplateError(.render, "'\(value.typeName)' object is not iterable", at: location)
        }
    }

    private mutating func assign(_ value: JinjaValue, to target: JinjaAssignmentTarget,
                                 location: TemplateLocation) throws {
        switch target {
        case .name(let name):
            assign(name: name, value)
        case .attribute(let objectName, let attribute):
            guard case .object(let object) = lookup(objectName), object.acceptsAssignment else {
                throw ChatTemplateError(.render, "cannot assign attribute '\(attribute)' on '\(objectName)', "
                                        + "which is not a namespace() object", at: location)
            }
            object.attributes[attribute] = value
        case .tuple(let targets):
            let items = try iterate(value, location: location)
            guard items.count == targets.count else {
                throw ChatTemplateError(.render, "cannot unpack \(items.count) values into \(targets.count) names",
                                        at: location)
            }
            for (item, itemTarget) in zip(items, targets) { try assign(item, to: itemTarget, location: location) }
        }
    }

    private mutating func assign(name: String, _ value: JinjaValue) {
        if scopes.isEmpty { root.values[name] = value } else { scopes[scopes.count - 1][name] = value }
    }

    private func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() {
            if let value = scope[name] { return value }
        }
        return root.values[name] ?? JinjaBuiltins.globals[name] ?? .undefinedVariable(name)
    }

    /// A macro as a function: each call renders the body in a fresh scope holding the arguments, on top of the
    /// loop scopes where the macro was defined (as a closure) and the template-level variables at call time.
    /// The root scope is held weakly: the template-level variables hold the macro itself.
    private func makeMacro(_ macro: JinjaMacro) -> JinjaFunction {
        let definitionScopes = scopes
        return JinjaFunction(name: macro.name) { [weak root] arguments in
            guard let root else { throw JinjaBuiltins.renderError("macro '\(macro.name)' outlived its template") }
            var renderer = JinjaRenderer(root: root, scopes: definitionScopes + [[:]])
            try renderer.bind(arguments, to: macro)
            var output = ""
            _ = try renderer.execute(macro.body, into: &output)
            return .string(output)
        }
    }

    private mutating func bind(_ arguments: JinjaArguments, to macro: JinjaMacro) throws {
        let names = macro.parameters.map(\.name)
        guard arguments.positional.count <= names.count else {
            throw JinjaBuiltins.renderError("macro '\(macro.name)' takes not more than \(names.count) argument(s)")
        }
        var values: [String: JinjaValue] = [:]
        for (name, value) in zip(names, arguments.positional) { values[name] = value }
        for keyword in arguments.keywords {
            guard names.contains(keyword.name), values[keyword.name] == nil else {
                throw JinjaBuiltins.renderError("macro '\(macro.name)' got an unexpected or repeated argument "
                                                + "'\(keyword.name)'")
            }
            values[keyword.name] = keyword.value
        }
        for parameter in macro.parameters {
            let value = try values[parameter.name] ?? parameter.defaultValue.map { try evaluate($0) }
                ?? .undefined(hint: "parameter '\(parameter.name)' was not provided")
            assign(name: parameter.name, value)
        }
    }

    // MARK: expressions

    private mutating func evaluate(_ expression: JinjaExpression) throws -> JinjaValue {
        do {
            return try evaluateKind(expression.kind)
        } catch let error as ChatTemplateError where error.location == nil {
            throw ChatTemplateError(error.kind, error.message, at: expression.location)
        }
    }

    private mutating func evaluateKind(_ kind: JinjaExpression.Kind) throws -> JinjaValue {
        switch kind {
        case .literal(let value):
            return value
        case .variable(let name):
            return lookup(name)
        case .list(let items):
            return .list(try items.map { try evaluate($0) })
        case .dictionary(let entries):
            var dictionary = JinjaDictionary()
            for entry in entries {
                guard case .string(let key) = try evaluate(entry.key) else {
                    throw ChatTemplateError(.unsupported, "dictionary keys other than strings",
                                            at: entry.key.location)
                }
                dictionary[key] = try evaluate(entry.value)
            }
            return .dictionary(dictionary)
        case .attribute(let base, let name):
            return try JinjaBuiltins.attribute(name, of: try evaluate(base))
        case .index(let base, let index):
            return try JinjaBuiltins.item(try evaluate(index), of: try evaluate(base))
        case .slice(let base, let start, let stop, let step):
            return try JinjaBuiltins.slice(try evaluate(base), start: try start.map { try evaluate($0) },
                                           stop: try stop.map { try evaluate($0) },
                                           step: try step.map { try evaluate($0) })
        case .call(let callee, let arguments):
            let function = try evaluate(callee)
            return try JinjaBuiltins.call(function, try evaluate(arguments))
        case .filter(let base, let name, let arguments):
            return try JinjaBuiltins.applyFilter(name, to: try evaluate(base), try evaluate(arguments))
        case .test(let base, let name, let arguments, let negated):
            let passed = try JinjaBuiltins.applyTest(name, to: try evaluate(base), try evaluate(arguments))
            return .bool(passed != negated)
        case .negate(let operand):
            return try JinjaBuiltins.negate(try evaluate(operand))
        case .plus(let operand):
            let value = try evaluate(operand)
            guard value.numericValue != nil else {
                throw ChatTemplateError(.render, "bad operand type for unary +: '\(value.typeName)'")
            }
            return value
        case .not(let operand):
            return .bool(!(try evaluate(operand).isTruthy))
        case .and(let left, let right):
            let value = try evaluate(left)
            return value.isTruthy ? try evaluate(right) : value
        case .or(let left, let right):
            let value = try evaluate(left)
            return value.isTruthy ? value : try evaluate(right)
        case .arithmetic(let op, let left, let right):
            return try JinjaBuiltins.arithmetic(op, try evaluate(left), try evaluate(right))
        case .concatenate(let parts):
            return .string(try parts.map { try evaluate($0).renderedText }.joined())
        case .compare(let first, let operations):
            var left = try evaluate(first)
            for operation in operations {
                let right = try evaluate(operation.operand)
                guard try JinjaBuiltins.compare(operation.op, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let condition, let value, let otherwise):
            if try evaluate(condition).isTruthy { return try evaluate(value) }
            return try otherwise.map { try evaluate($0) }
                ?? .undefined(hint: "the inline if-expression evaluated to false and has no else section")
        }
    }

    private mutating func evaluate(_ arguments: JinjaCallArguments) throws -> JinjaArguments {
        JinjaArguments(positional: try arguments.positional.map { try evaluate($0) },
                       keywords: try arguments.keywords.map { ($0.name, try evaluate($0.value)) })
    }
}
