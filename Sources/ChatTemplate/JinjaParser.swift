/// Turns a template into a tree of `JinjaNode`s. The grammar and operator precedence follow Jinja's own parser,
/// lowest binding first: `x if c else y`, `or`, `and`, `not`, comparisons and `in`, `+ -`, `~`, `* / // %`, `**`,
/// unary `- +`, then filters `|f`, tests `is t`, calls, attributes and subscripts.
struct JinjaParser {
    private let segments: [JinjaSegment]
    private var index = 0
    private var loopDepth = 0

    static func parse(_ template: String) throws -> [JinjaNode] {
        var lexer = JinjaLexer(template: template)
        var parser = JinjaParser(segments: try lexer.segments())
        let (nodes, end) = try parser.parseBody(until: [])
        if let end { throw ChatTemplateError(.syntax, "unexpected '\(end.tag)'", at: end.location) }
        return nodes
    }

    private init(segments: [JinjaSegment]) { self.segments = segments }

    /// A closing or continuing tag that ended a body (`endif`, `elif`, `else`, …) with the rest of its tokens.
    private struct EndTag {
        let tag: String
        let location: TemplateLocation
        var stream: JinjaTokenStream
    }

    /// Tags Jinja has that this interpreter does not implement.
    private static let unsupportedTags: Set<String> = [
        "call", "endcall", "filter", "endfilter", "include", "import", "from", "extends",
        "block", "endblock", "raw", "endraw", "with", "endwith", "autoescape", "endautoescape", "do", "trans",
    ]

    /// Parses nodes until one of `endTags` (returned) or the end of the template (returns nil; an error when some
    /// end tag was expected).
    private mutating func parseBody(until endTags: Set<String>,
                                    opener: (tag: String, location: TemplateLocation)? = nil)
        throws -> ([JinjaNode], EndTag?) {
        var nodes: [JinjaNode] = []
        while index < segments.count {
            let segment = segments[index]
            index += 1
            switch segment {
            case .text(let text):
                nodes.append(.text(text))
            case .output(let tokens, let location, let end):
                var stream = JinjaTokenStream(tokens: tokens, endLocation: end)
                guard !stream.isAtEnd else { throw ChatTemplateError(.syntax, "empty expression '{{ }}'", at: location) }
                let expression = try stream.parseTuple()
                try stream.expectEnd()
                nodes.append(.output(expression))
            case .statement(let tokens, let location, let end):
                var stream = JinjaTokenStream(tokens: tokens, endLocation: end)
                guard case .name(let tag)? = stream.current?.kind else {
                    throw ChatTemplateError(.syntax, "a tag must start with a statement name", at: location)
                }
                stream.advance()
                if endTags.contains(tag) { return (nodes, EndTag(tag: tag, location: location, stream: stream)) }
                nodes.append(try parseStatement(tag, stream: &stream, location: location))
            }
        }
        if let opener, !endTags.isEmpty {
            let expected = endTags.filter { $0.hasPrefix("end") }.sorted().joined(separator: "' or '")
            throw ChatTemplateError(.syntax, "'\(opener.tag)' is never closed: expected '\(expected)'",
                                    at: opener.location)
        }
        return (nodes, nil)
    }

    private mutating func parseStatement(_ tag: String, stream: inout JinjaTokenStream,
                                         location: TemplateLocation) throws -> JinjaNode {
        switch tag {
        case "if":
            return try parseIf(stream: &stream, location: location)
        case "for":
            return try parseFor(stream: &stream, location: location)
        case "set":
            let target = try stream.parseAssignmentTarget(allowNamespaceAttribute: true)
            if stream.skipSymbol("=") {
                let value = try stream.parseTuple()
                try stream.expectEnd()
                return .assign(target, value, location: location)
            }
            if stream.current?.isSymbol("|") == true {
                throw ChatTemplateError(.unsupported, "filters on a '{% set %}' block", at: location)
            }
            try stream.expectEnd()
            let (body, _) = try parseBody(until: ["endset"], opener: ("set", location))
            return .assignBlock(target, body: body, location: location)
        case "break", "continue":
            guard loopDepth > 0 else {
                throw ChatTemplateError(.syntax, "'\(tag)' outside of a for loop", at: location)
            }
            try stream.expectEnd()
            return tag == "break" ? .breakLoop(location: location) : .continueLoop(location: location)
        case "macro":
            return try parseMacro(stream: &stream, location: location)
        case "generation":
            try stream.expectEnd()
            let (body, _) = try parseBody(until: ["endgeneration"], opener: ("generation", location))
            return .generation(body)
        default:
            if Self.unsupportedTags.contains(tag) {
                throw ChatTemplateError(.unsupported, "the '{% \(tag) %}' tag", at: location)
            }
            throw ChatTemplateError(.syntax, "unknown or misplaced tag '\(tag)'", at: location)
        }
    }

    private mutating func parseIf(stream: inout JinjaTokenStream, location: TemplateLocation) throws -> JinjaNode {
        var branches: [(condition: JinjaExpression, body: [JinjaNode])] = []
        var condition = try stream.parseTuple(allowConditional: false)
        try stream.expectEnd()
        while true {
            let (body, end) = try parseBody(until: ["elif", "else", "endif"], opener: ("if", location))
            branches.append((condition, body))
            guard var end else { return .conditional(branches: branches, otherwise: []) }
            switch end.tag {
            case "elif":
                condition = try end.stream.parseTuple(allowConditional: false)
                try end.stream.expectEnd()
            case "else":
                try end.stream.expectEnd()
                let (otherwise, endIf) = try parseBody(until: ["endif"], opener: ("if", location))
                try endIf?.stream.expectEnd()
                return .conditional(branches: branches, otherwise: otherwise)
            default:
                try end.stream.expectEnd()
                return .conditional(branches: branches, otherwise: [])
            }
        }
    }

    private mutating func parseMacro(stream: inout JinjaTokenStream, location: TemplateLocation) throws
        -> JinjaNode {
        let name = try stream.expectIdentifier()
        try stream.expectSymbol("(")
        var parameters: [(name: String, defaultValue: JinjaExpression?)] = []
        while !stream.skipSymbol(")") {
            if !parameters.isEmpty {
                try stream.expectSymbol(",")
                if stream.skipSymbol(")") { break }
            }
            let parameter = try stream.expectIdentifier()
            parameters.append((parameter, stream.skipSymbol("=") ? try stream.parseExpression() : nil))
        }
        try stream.expectEnd()
        let enclosingLoopDepth = loopDepth
        loopDepth = 0
        defer { loopDepth = enclosingLoopDepth }
        let (body, end) = try parseBody(until: ["endmacro"], opener: ("macro", location))
        try end?.stream.expectEnd()
        return .macro(JinjaMacro(name: name, parameters: parameters, body: body))
    }

    private mutating func parseFor(stream: inout JinjaTokenStream, location: TemplateLocation) throws -> JinjaNode {
        let target = try stream.parseAssignmentTarget(allowNamespaceAttribute: false)
        try stream.expectName("in")
        let iterable = try stream.parseTuple(allowConditional: false)
        let filter = stream.skipName("if") ? try stream.parseExpression() : nil
        if stream.current?.isName("recursive") == true {
            throw ChatTemplateError(.unsupported, "recursive for loops", at: location)
        }
        try stream.expectEnd()
        loopDepth += 1
        let (body, end) = try parseBody(until: ["else", "endfor"], opener: ("for", location))
        loopDepth -= 1
        var otherwise: [JinjaNode] = []
        if let end {
            try end.stream.expectEnd()
            if end.tag == "else" {
                var endFor: EndTag?
                (otherwise, endFor) = try parseBody(until: ["endfor"], opener: ("for", location))
                try endFor?.stream.expectEnd()
            }
        }
        return .forLoop(JinjaForLoop(target: target, iterable: iterable, filter: filter, body: body,
                                     otherwise: otherwise, location: location))
    }
}

/// The tokens of one tag with a cursor, and the expression grammar over them.
struct JinjaTokenStream {
    private let tokens: [JinjaToken]
    private var position = 0
    /// Where the tag's closing delimiter is, reported for errors at the end of the tokens.
    private let endLocation: TemplateLocation

    init(tokens: [JinjaToken], endLocation: TemplateLocation) {
        self.tokens = tokens
        self.endLocation = endLocation
    }

    var current: JinjaToken? { position < tokens.count ? tokens[position] : nil }
    var isAtEnd: Bool { position >= tokens.count }
    private var currentLocation: TemplateLocation { current?.location ?? endLocation }

    mutating func advance() { position += 1 }

    mutating func skipSymbol(_ symbol: String) -> Bool {
        guard current?.isSymbol(symbol) == true else { return false }
        position += 1
        return true
    }

    mutating func skipName(_ name: String) -> Bool {
        guard current?.isName(name) == true else { return false }
        position += 1
        return true
    }

    private func unexpected(_ expected: String) -> ChatTemplateError {
        ChatTemplateError(.syntax, "expected \(expected), found \(current.map(describe) ?? "end of tag")",
                          at: currentLocation)
    }

    private func describe(_ token: JinjaToken) -> String {
        switch token.kind {
        case .name(let name): return "'\(name)'"
        case .string(let text): return pythonStringLiteral(text)
        case .integer(let value): return "\(value)"
        case .float(let value): return pythonFloatText(value)
        case .symbol(let symbol): return "'\(symbol)'"
        }
    }

    mutating func expectSymbol(_ symbol: String) throws {
        guard skipSymbol(symbol) else { throw unexpected("'\(symbol)'") }
    }

    mutating func expectName(_ name: String) throws {
        guard skipName(name) else { throw unexpected("'\(name)'") }
    }

    mutating func expectIdentifier() throws -> String {
        guard case .name(let name)? = current?.kind else { throw unexpected("a name") }
        position += 1
        return name
    }

    func expectEnd() throws {
        guard isAtEnd else { throw unexpected("end of tag") }
    }

    // MARK: assignment targets

    mutating func parseAssignmentTarget(allowNamespaceAttribute: Bool) throws -> JinjaAssignmentTarget {
        if skipSymbol("(") {
            let target = try parseNameTuple()
            try expectSymbol(")")
            return target
        }
        if allowNamespaceAttribute, position + 1 < tokens.count, tokens[position + 1].isSymbol(".") {
            let object = try expectIdentifier()
            advance()
            return .attribute(object: object, attribute: try expectIdentifier())
        }
        return try parseNameTuple()
    }

    private mutating func parseNameTuple() throws -> JinjaAssignmentTarget {
        var names = [JinjaAssignmentTarget.name(try expectIdentifier())]
        var isTuple = false
        while skipSymbol(",") {
            isTuple = true
            guard case .name? = current?.kind else { break }
            names.append(.name(try expectIdentifier()))
        }
        return isTuple ? .tuple(names) : names[0]
    }

    // MARK: expressions

    /// `a, b` makes a tuple (a list here); a single expression is returned as is.
    mutating func parseTuple(allowConditional: Bool = true, explicitParentheses: Bool = false) throws
        -> JinjaExpression {
        let location = currentLocation
        var items: [JinjaExpression] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectSymbol(",") }
            if isAtEnd || current?.isSymbol(")") == true { break }
            items.append(try parseExpression(allowConditional: allowConditional))
            if current?.isSymbol(",") == true { isTuple = true } else { break }
        }
        if !isTuple {
            if let only = items.first { return only }
            if !explicitParentheses { throw unexpected("an expression") }
        }
        return JinjaExpression(kind: .list(items), location: location)
    }

    mutating func parseExpression(allowConditional: Bool = true) throws -> JinjaExpression {
        allowConditional ? try parseConditional() : try parseOr()
    }

    private mutating func parseConditional() throws -> JinjaExpression {
        var value = try parseOr()
        while current?.isName("if") == true {
            let location = currentLocation
            advance()
            let condition = try parseOr()
            let otherwise = skipName("else") ? try parseConditional() : nil
            value = JinjaExpression(kind: .conditional(condition: condition, value: value, otherwise: otherwise),
                                    location: location)
        }
        return value
    }

    private mutating func parseOr() throws -> JinjaExpression {
        var left = try parseAnd()
        while current?.isName("or") == true {
            let location = currentLocation
            advance()
            left = JinjaExpression(kind: .or(left, try parseAnd()), location: location)
        }
        return left
    }

    private mutating func parseAnd() throws -> JinjaExpression {
        var left = try parseNot()
        while current?.isName("and") == true {
            let location = currentLocation
            advance()
            left = JinjaExpression(kind: .and(left, try parseNot()), location: location)
        }
        return left
    }

    private mutating func parseNot() throws -> JinjaExpression {
        guard current?.isName("not") == true else { return try parseCompare() }
        let location = currentLocation
        advance()
        return JinjaExpression(kind: .not(try parseNot()), location: location)
    }

    private static let comparisonSymbols: Set<String> = ["==", "!=", "<", "<=", ">", ">="]

    private mutating func parseCompare() throws -> JinjaExpression {
        let location = currentLocation
        let first = try parseAdditive()
        var operations: [(op: String, operand: JinjaExpression)] = []
        while let token = current {
            if case .symbol(let symbol) = token.kind, Self.comparisonSymbols.contains(symbol) {
                advance()
                operations.append((symbol, try parseAdditive()))
            } else if token.isName("in") {
                advance()
                operations.append(("in", try parseAdditive()))
            } else if token.isName("not"), position + 1 < tokens.count, tokens[position + 1].isName("in") {
                position += 2
                operations.append(("notin", try parseAdditive()))
            } else {
                break
            }
        }
        return operations.isEmpty ? first : JinjaExpression(kind: .compare(first, operations), location: location)
    }

    private mutating func parseBinary(_ symbols: Set<String>, operand: (inout Self) throws -> JinjaExpression)
        throws -> JinjaExpression {
        var left = try operand(&self)
        while case .symbol(let symbol)? = current?.kind, symbols.contains(symbol) {
            let location = currentLocation
            advance()
            left = JinjaExpression(kind: .arithmetic(symbol, left, try operand(&self)), location: location)
        }
        return left
    }

    private mutating func parseAdditive() throws -> JinjaExpression {
        try parseBinary(["+", "-"]) { try $0.parseConcatenation() }
    }

    private mutating func parseConcatenation() throws -> JinjaExpression {
        let location = currentLocation
        var parts = [try parseMultiplicative()]
        while skipSymbol("~") { parts.append(try parseMultiplicative()) }
        return parts.count == 1 ? parts[0] : JinjaExpression(kind: .concatenate(parts), location: location)
    }

    private mutating func parseMultiplicative() throws -> JinjaExpression {
        try parseBinary(["*", "/", "//", "%"]) { try $0.parsePower() }
    }

    private mutating func parsePower() throws -> JinjaExpression {
        try parseBinary(["**"]) { try $0.parseUnary() }
    }

    private mutating func parseUnary(withFilters: Bool = true) throws -> JinjaExpression {
        let location = currentLocation
        var node: JinjaExpression
        if skipSymbol("-") {
            node = JinjaExpression(kind: .negate(try parseUnary(withFilters: false)), location: location)
        } else if skipSymbol("+") {
            node = JinjaExpression(kind: .plus(try parseUnary(withFilters: false)), location: location)
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        return withFilters ? try parseFiltersAndTests(node) : node
    }

    private mutating func parsePrimary() throws -> JinjaExpression {
        guard let token = current else { throw unexpected("an expression") }
        let location = token.location
        switch token.kind {
        case .name(let name):
            advance()
            switch name {
            case "true", "True": return JinjaExpression(kind: .literal(.bool(true)), location: location)
            case "false", "False": return JinjaExpression(kind: .literal(.bool(false)), location: location)
            case "none", "None": return JinjaExpression(kind: .literal(.none), location: location)
            default: return JinjaExpression(kind: .variable(name), location: location)
            }
        case .string(var text):
            advance()
            while case .string(let next)? = current?.kind {
                text += next
                advance()
            }
            return JinjaExpression(kind: .literal(.string(text)), location: location)
        case .integer(let value):
            advance()
            return JinjaExpression(kind: .literal(.integer(value)), location: location)
        case .float(let value):
            advance()
            return JinjaExpression(kind: .literal(.float(value)), location: location)
        case .symbol("("):
            advance()
            let inner = try parseTuple(explicitParentheses: true)
            try expectSymbol(")")
            return inner
        case .symbol("["):
            advance()
            var items: [JinjaExpression] = []
            while !skipSymbol("]") {
                if !items.isEmpty {
                    try expectSymbol(",")
                    if skipSymbol("]") { break }
                }
                items.append(try parseExpression())
            }
            return JinjaExpression(kind: .list(items), location: location)
        case .symbol("{"):
            advance()
            var entries: [(key: JinjaExpression, value: JinjaExpression)] = []
            while !skipSymbol("}") {
                if !entries.isEmpty {
                    try expectSymbol(",")
                    if skipSymbol("}") { break }
                }
                let key = try parseExpression()
                try expectSymbol(":")
                entries.append((key, try parseExpression()))
            }
            return JinjaExpression(kind: .dictionary(entries), location: location)
        default:
            throw unexpected("an expression")
        }
    }

    private mutating func parsePostfix(_ base: JinjaExpression) throws -> JinjaExpression {
        var node = base
        while let token = current {
            let location = token.location
            if token.isSymbol(".") {
                advance()
                switch current?.kind {
                case .name(let name)?:
                    advance()
                    node = JinjaExpression(kind: .attribute(node, name), location: location)
                case .integer(let value)?:
                    advance()
                    let index = JinjaExpression(kind: .literal(.integer(value)), location: location)
                    node = JinjaExpression(kind: .index(node, index), location: location)
                default:
                    throw unexpected("an attribute name after '.'")
                }
            } else if token.isSymbol("[") {
                advance()
                node = try parseSubscript(node, location: location)
            } else if token.isSymbol("(") {
                advance()
                node = JinjaExpression(kind: .call(node, try parseCallArguments()), location: node.location)
            } else {
                break
            }
        }
        return node
    }

    private mutating func parseSubscript(_ base: JinjaExpression, location: TemplateLocation) throws
        -> JinjaExpression {
        var start: JinjaExpression?
        if current?.isSymbol(":") != true {
            start = try parseExpression()
            if skipSymbol("]") {
                return JinjaExpression(kind: .index(base, start!), location: location)
            }
        }
        try expectSymbol(":")
        var stop: JinjaExpression?
        var step: JinjaExpression?
        if current?.isSymbol("]") != true && current?.isSymbol(":") != true { stop = try parseExpression() }
        if skipSymbol(":"), current?.isSymbol("]") != true { step = try parseExpression() }
        try expectSymbol("]")
        return JinjaExpression(kind: .slice(base, start: start, stop: stop, step: step), location: location)
    }

    /// Arguments after an opening parenthesis, through the closing one.
    private mutating func parseCallArguments() throws -> JinjaCallArguments {
        var arguments = JinjaCallArguments()
        var first = true
        while !skipSymbol(")") {
            if !first {
                try expectSymbol(",")
                if skipSymbol(")") { break }
            }
            first = false
            if current?.isSymbol("*") == true || current?.isSymbol("**") == true {
                throw ChatTemplateError(.unsupported, "'*' and '**' argument unpacking", at: currentLocation)
            }
            if case .name(let name)? = current?.kind, position + 1 < tokens.count, tokens[position + 1].isSymbol("=") {
                position += 2
                arguments.keywords.append((name, try parseExpression()))
            } else {
                guard arguments.keywords.isEmpty else {
                    throw ChatTemplateError(.syntax, "positional argument after keyword argument",
                                            at: currentLocation)
                }
                arguments.positional.append(try parseExpression())
            }
        }
        return arguments
    }

    private mutating func parseDottedName() throws -> String {
        var name = try expectIdentifier()
        while skipSymbol(".") { name += "." + (try expectIdentifier()) }
        return name
    }

    private mutating func parseFiltersAndTests(_ base: JinjaExpression) throws -> JinjaExpression {
        var node = base
        while let token = current {
            let location = token.location
            if token.isSymbol("|") {
                advance()
                let nameLocation = currentLocation
                let name = try parseDottedName()
                guard JinjaBuiltins.filters[name] != nil else {
                    throw ChatTemplateError(.unsupported, "the filter '\(name)'", at: nameLocation)
                }
                let arguments = skipSymbol("(") ? try parseCallArguments() : JinjaCallArguments()
                node = JinjaExpression(kind: .filter(node, name: name, arguments), location: location)
            } else if token.isName("is") {
                advance()
                let negated = skipName("not")
                let nameLocation = currentLocation
                let name = try parseDottedName()
                guard JinjaBuiltins.tests[name] != nil else {
                    throw ChatTemplateError(.unsupported, "the test '\(name)'", at: nameLocation)
                }
                var arguments = JinjaCallArguments()
                if skipSymbol("(") {
                    arguments = try parseCallArguments()
                } else if let next = current, startsBareTestArgument(next) {
                    if next.isName("is") {
                        throw ChatTemplateError(.syntax, "tests cannot be chained with 'is'", at: next.location)
                    }
                    arguments.positional = [try parsePostfix(try parsePrimary())]
                }
                node = JinjaExpression(kind: .test(node, name: name, arguments, negated: negated), location: location)
            } else if token.isSymbol("(") {
                advance()
                node = JinjaExpression(kind: .call(node, try parseCallArguments()), location: location)
            } else {
                break
            }
        }
        return node
    }

    /// Whether `token` starts the single argument of a test written without parentheses (`x is divisibleby 3`).
    private func startsBareTestArgument(_ token: JinjaToken) -> Bool {
        switch token.kind {
        case .name(let name): return !["else", "or", "and"].contains(name)
        case .string, .integer, .float: return true
        case .symbol(let symbol): return ["(", "[", "{"].contains(symbol)
        }
    }
}
