import Foundation

extension JinjaBuiltins {
    typealias Filter = (JinjaValue, JinjaArguments) throws -> JinjaValue
    typealias Test = (JinjaValue, JinjaArguments) throws -> Bool

    /// What Jinja's filters and `str()` see of a value: its printed text, "" for Undefined.
    static func text(_ value: JinjaValue) -> String { value.renderedText }

    static func applyFilter(_ name: String, to value: JinjaValue, _ arguments: JinjaArguments) throws -> JinjaValue {
        guard let filter = filters[name] else { throw ChatTemplateError(.unsupported, "the filter '\(name)'") }
        return try filter(value, arguments)
    }

    static func applyTest(_ name: String, to value: JinjaValue, _ arguments: JinjaArguments) throws -> Bool {
        guard let test = tests[name] else { throw ChatTemplateError(.unsupported, "the test '\(name)'") }
        return try test(value, arguments)
    }

    /// The items a filter iterates: list items, dict keys, string characters, nothing for Undefined.
    static func sequenceItems(_ value: JinjaValue, for filter: String) throws -> [JinjaValue] {
        switch value {
        case .undefined: return []
        case .list(let items): return items
        case .dictionary(let dictionary): return dictionary.keys.map { .string($0) }
        case .string(let text): return text.unicodeScalars.map { .string(String($0)) }
        default: throw renderError("'\(filter)' needs a sequence, got '\(value.typeName)'")
        }
    }

    static func stringArgument(_ value: JinjaValue?, _ name: String) throws -> String? {
        switch value {
        case nil, .none?: return nil
        case .string(let text)?: return text
        case let other?: throw renderError("argument '\(name)' must be a string, got '\(other.typeName)'")
        }
    }

    static func length(_ value: JinjaValue) throws -> Int {
        switch value {
        case .undefined: return 0
        case .string(let text): return text.unicodeScalars.count
        case .list(let items): return items.count
        case .dictionary(let dictionary): return dictionary.count
        default: throw renderError("object of type '\(value.typeName)' has no len()")
        }
    }

    /// Filters by name, with Jinja's argument names and defaults (`tojson` as transformers overrides it).
    static let filters: [String: Filter] = {
        var filters: [String: Filter] = [
            "trim": { value, arguments in
                .string(strip(text(value), characters: try stringArgument(arguments.value(0, "chars"), "chars"),
                              leading: true, trailing: true))
            },
            "length": { value, _ in .integer(try length(value)) },
            "upper": { value, _ in .string(text(value).uppercased()) },
            "lower": { value, _ in .string(text(value).lowercased()) },
            "capitalize": { value, _ in .string(capitalized(text(value))) },
            "title": { value, _ in .string(jinjaTitle(text(value))) },
            "string": { value, _ in .string(text(value)) },
            "safe": { value, _ in .string(text(value)) },
            "tojson": { value, arguments in
                .string(try JinjaJSON.serialize(value, arguments: arguments))
            },
            "default": { value, arguments in
                let fallback = arguments.value(0, "default_value") ?? .string("")
                let useFalsy = arguments.value(1, "boolean")?.isTruthy ?? false
                return value.isUndefined || (useFalsy && !value.isTruthy) ? fallback : value
            },
            "join": { value, arguments in
                var items = try sequenceItems(value, for: "join")
                if let attribute = try stringArgument(arguments.value(1, "attribute"), "attribute") {
                    items = try items.map { try item(.string(attribute), of: $0) }
                }
                let separator = arguments.value(0, "d").map(text) ?? ""
                return .string(items.map(text).joined(separator: separator))
            },
            "first": { value, _ in
                try sequenceItems(value, for: "first").first ?? .undefined(hint: "No first item, sequence was empty.")
            },
            "last": { value, _ in
                try sequenceItems(value, for: "last").last ?? .undefined(hint: "No last item, sequence was empty.")
            },
            "list": { value, _ in .list(try sequenceItems(value, for: "list")) },
            "reverse": { value, _ in
                if case .string(let text) = value { return .string(String(String.UnicodeScalarView(text.unicodeScalars.reversed()))) }
                return .list(try sequenceItems(value, for: "reverse").reversed())
            },
            "items": { value, _ in
                switch value {
                case .undefined: return .list([])
                case .dictionary(let dictionary): return .list(dictionary.entries.map { .list([.string($0.key), $0.value]) })
                default: throw renderError("can only get item pairs from a mapping, got '\(value.typeName)'")
                }
            },
            "replace": { value, arguments in
                guard let old = try stringArgument(arguments.value(0, "old"), "old"),
                      let new = try stringArgument(arguments.value(1, "new"), "new") else {
                    throw renderError("replace needs the old and new strings")
                }
                let count = arguments.value(2, "count")?.integerValue ?? -1
                return .string(replace(text(value), old, new, count: count))
            },
            "int": { value, arguments in
                let fallback = arguments.value(0, "default") ?? .integer(0)
                switch value {
                case .string(let text):
                    return Int(text.trimmingCharacters(in: .whitespaces)).map { .integer($0) }
                        ?? Double(text.trimmingCharacters(in: .whitespaces)).flatMap { Int(exactly: $0.rounded(.towardZero)) }.map { .integer($0) }
                        ?? fallback
                case .float(let number): return Int(exactly: number.rounded(.towardZero)).map { .integer($0) } ?? fallback
                default: return value.integerValue.map { .integer($0) } ?? fallback
                }
            },
            "float": { value, arguments in
                let fallback = arguments.value(0, "default") ?? .float(0)
                if case .string(let text) = value {
                    return Double(text.trimmingCharacters(in: .whitespaces)).map { .float($0) } ?? fallback
                }
                return value.numericValue.map { .float($0) } ?? fallback
            },
            "abs": { value, _ in
                if let integer = value.integerValue { return .integer(abs(integer)) }
                if case .float(let number) = value { return .float(Swift.abs(number)) }
                throw renderError("bad operand type for abs(): '\(value.typeName)'")
            },
            "indent": { value, arguments in
                let width = arguments.value(0, "width") ?? .integer(4)
                let indentation: String
                if case .string(let text) = width { indentation = text } else {
                    indentation = String(repeating: " ", count: max(0, width.integerValue ?? 4))
                }
                return .string(indent(text(value), by: indentation,
                                      first: arguments.value(1, "first")?.isTruthy ?? false,
                                      blank: arguments.value(2, "blank")?.isTruthy ?? false))
            },
            "map": { value, arguments in
                let items = try sequenceItems(value, for: "map")
                if let attribute = arguments.keywords.first(where: { $0.name == "attribute" })?.value {
                    let fallback = arguments.keywords.first { $0.name == "default" }?.value
                    return .list(try items.map { element in
                        let found = try item(attribute, of: element)
                        return found.isUndefined ? (fallback ?? found) : found
                    })
                }
                guard case .string(let filterName)? = arguments.positional.first else {
                    throw renderError("map needs a filter name or attribute=")
                }
                let rest = JinjaArguments(positional: Array(arguments.positional.dropFirst()), keywords: arguments.keywords)
                return .list(try items.map { try applyFilter(filterName, to: $0, rest) })
            },
        ]
        filters["dictsort"] = { value, arguments in
            guard case .dictionary(let dictionary) = value else {
                throw renderError("dictsort needs a mapping, got '\(value.typeName)'")
            }
            let byValue = try stringArgument(arguments.value(1, "by"), "by") == "value"
            let pairs = dictionary.entries.map { JinjaValue.list([.string($0.key), $0.value]) }
            return .list(try sorted(pairs, caseSensitive: arguments.value(0, "case_sensitive")?.isTruthy ?? false,
                                    reverse: arguments.value(2, "reverse")?.isTruthy ?? false) { pair in
                guard case .list(let entry) = pair else { return pair }
                return entry[byValue ? 1 : 0]
            })
        }
        filters["sort"] = { value, arguments in
            let attribute = arguments.value(2, "attribute")
            return .list(try sorted(try sequenceItems(value, for: "sort"),
                                    caseSensitive: arguments.value(1, "case_sensitive")?.isTruthy ?? false,
                                    reverse: arguments.value(0, "reverse")?.isTruthy ?? false) { element in
                try attribute.map { try item($0, of: element) } ?? element
            })
        }
        filters["count"] = filters["length"]
        filters["d"] = filters["default"]
        filters["select"] = selectFilter(byAttribute: false, keep: true)
        filters["reject"] = selectFilter(byAttribute: false, keep: false)
        filters["selectattr"] = selectFilter(byAttribute: true, keep: true)
        filters["rejectattr"] = selectFilter(byAttribute: true, keep: false)
        return filters
    }()

    /// `select(test, …)`, `reject(test, …)`, `selectattr(attribute, test, …)`, `rejectattr(attribute, test, …)`:
    /// without a test name, an item's truth decides.
    private static func selectFilter(byAttribute: Bool, keep: Bool) -> Filter {
        return { value, arguments in
            var positional = arguments.positional
            var attribute: JinjaValue?
            if byAttribute {
                guard !positional.isEmpty else { throw renderError("selectattr/rejectattr need an attribute name") }
                attribute = positional.removeFirst()
            }
            var testName: String?
            if !positional.isEmpty {
                guard case .string(let name) = positional.removeFirst() else {
                    throw renderError("the test name must be a string")
                }
                testName = name
            }
            let testArguments = JinjaArguments(positional: positional, keywords: arguments.keywords)
            return .list(try sequenceItems(value, for: "select").filter { element in
                let subject = try attribute.map { try item($0, of: element) } ?? element
                let passed = try testName.map { try applyTest($0, to: subject, testArguments) } ?? subject.isTruthy
                return passed == keep
            })
        }
    }

    /// A stable sort as Jinja's `sort`/`dictsort` do it: by `key` of each item, strings compared lower-cased
    /// unless `caseSensitive`.
    static func sorted(_ items: [JinjaValue], caseSensitive: Bool, reverse: Bool,
                       key: (JinjaValue) throws -> JinjaValue) throws -> [JinjaValue] {
        let keys = try items.map { item -> JinjaValue in
            let value = try key(item)
            if !caseSensitive, case .string(let text) = value { return .string(text.lowercased()) }
            return value
        }
        var failure: Error?
        let order = items.indices.sorted { a, b in
            do {
                let (first, second) = reverse ? (keys[b], keys[a]) : (keys[a], keys[b])
                if try compare("<", first, second) { return true }
                if try compare("<", second, first) { return false }
            } catch {
                failure = failure ?? error
            }
            return a < b
        }
        if let failure { throw failure }
        return order.map { items[$0] }
    }

    /// Tests by name, as in Jinja (`number` counts bools, as Python's `isinstance(x, Number)` does).
    static let tests: [String: Test] = {
        func comparison(_ op: String) -> Test {
            return { value, arguments in
                guard let other = arguments.value(0, "other") else { throw renderError("the test needs a value") }
                return try compare(op, value, other)
            }
        }
        var tests: [String: Test] = [
            "defined": { value, _ in !value.isUndefined },
            "undefined": { value, _ in value.isUndefined },
            "none": { value, _ in if case .none = value { return true }; return false },
            "boolean": { value, _ in if case .bool = value { return true }; return false },
            "true": { value, _ in if case .bool(true) = value { return true }; return false },
            "false": { value, _ in if case .bool(false) = value { return true }; return false },
            "integer": { value, _ in if case .integer = value { return true }; return false },
            "float": { value, _ in if case .float = value { return true }; return false },
            "number": { value, _ in value.numericValue != nil },
            "string": { value, _ in if case .string = value { return true }; return false },
            "mapping": { value, _ in if case .dictionary = value { return true }; return false },
            "iterable": { value, _ in
                switch value {
                case .undefined, .string, .list, .dictionary: return true
                default: return false
                }
            },
            "sequence": { value, _ in
                switch value {
                case .undefined, .string, .list, .dictionary: return true
                default: return false
                }
            },
            "callable": { value, _ in if case .function = value { return true }; return false },
            "lower": { value, _ in let text = text(value); return text == text.lowercased() && text != text.uppercased() },
            "upper": { value, _ in let text = text(value); return text == text.uppercased() && text != text.lowercased() },
            "odd": { value, _ in
                guard let number = value.integerValue else { throw renderError("'odd' needs an integer") }
                return number % 2 != 0
            },
            "even": { value, _ in
                guard let number = value.integerValue else { throw renderError("'even' needs an integer") }
                return number % 2 == 0
            },
            "divisibleby": { value, arguments in
                guard let number = value.integerValue, let divisor = arguments.value(0, "num")?.integerValue,
                      divisor != 0 else {
                    throw renderError("'divisibleby' needs an integer and a non-zero integer divisor")
                }
                return number % divisor == 0
            },
            "in": { value, arguments in
                guard let container = arguments.value(0, "seq") else { throw renderError("'in' needs a container") }
                return try contains(container, value)
            },
            "sameas": { value, arguments in
                guard let other = arguments.value(0, "other") else { throw renderError("'sameas' needs a value") }
                switch (value, other) {
                case (.object(let a), .object(let b)): return a === b
                case (.none, .none), (.undefined, .undefined): return true
                case (.bool(let a), .bool(let b)): return a == b
                default: return false
                }
            },
        ]
        for (names, op) in [(["eq", "equalto", "=="], "=="), (["ne", "!="], "!="), (["lt", "lessthan", "<"], "<"),
                            (["le", "<="], "<="), (["gt", "greaterthan", ">"], ">"), (["ge", ">="], ">=")] {
            for name in names { tests[name] = comparison(op) }
        }
        return tests
    }()

    // MARK: text helpers shared by filters and string methods

    /// Python's `str.strip/lstrip/rstrip`: whitespace, or any of `characters` when given.
    static func strip(_ text: String, characters: String?, leading: Bool, trailing: Bool) -> String {
        let strippable: (Unicode.Scalar) -> Bool = characters.map { set in
            let members = Set(set.unicodeScalars)
            return { members.contains($0) }
        } ?? isPythonWhitespace
        var scalars = Array(text.unicodeScalars)[...]
        if leading { while let first = scalars.first, strippable(first) { scalars.removeFirst() } }
        if trailing { while let last = scalars.last, strippable(last) { scalars.removeLast() } }
        return String(String.UnicodeScalarView(scalars))
    }

    /// Python's `str.replace(old, new, count)`; an empty `old` inserts `new` between all characters.
    static func replace(_ text: String, _ old: String, _ new: String, count: Int) -> String {
        let scalars = Array(text.unicodeScalars)
        let needle = Array(old.unicodeScalars)
        var result = String.UnicodeScalarView()
        var replaced = 0
        var index = 0
        func mayReplace() -> Bool { count < 0 || replaced < count }
        if needle.isEmpty {
            for scalar in scalars {
                if mayReplace() { result.append(contentsOf: new.unicodeScalars); replaced += 1 }
                result.append(scalar)
            }
            if mayReplace() { result.append(contentsOf: new.unicodeScalars) }
            return String(result)
        }
        while mayReplace(), let found = findScalars(needle, in: scalars, from: index) {
            result.append(contentsOf: scalars[index..<found])
            result.append(contentsOf: new.unicodeScalars)
            index = found + needle.count
            replaced += 1
        }
        result.append(contentsOf: scalars[index...])
        return String(result)
    }

    /// Python's `str.capitalize()`: first character upper case, the rest lower case.
    static func capitalized(_ text: String) -> String {
        guard let first = text.unicodeScalars.first else { return "" }
        return String(first).uppercased() + String(String.UnicodeScalarView(text.unicodeScalars.dropFirst())).lowercased()
    }

    /// Jinja's `title` filter: capitalizes each word, words being separated by whitespace, `-`, `(`, `{`, `[`, `<`.
    static func jinjaTitle(_ text: String) -> String {
        var result = ""
        var word = String.UnicodeScalarView()
        func flush() {
            if !word.isEmpty { result += capitalized(String(word)) }
            word = String.UnicodeScalarView()
        }
        for scalar in text.unicodeScalars {
            if isPythonWhitespace(scalar) || "-({[<".unicodeScalars.contains(scalar) {
                flush()
                result.unicodeScalars.append(scalar)
            } else {
                word.append(scalar)
            }
        }
        flush()
        return result
    }

    /// Python's `str.splitlines()`, optionally keeping the line ends.
    static func splitLines(_ text: String, keepEnds: Bool = false) -> [String] {
        let breaks: Set<UInt32> = [0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029]
        let scalars = Array(text.unicodeScalars)
        var lines: [String] = []
        var start = 0
        var index = 0
        while index < scalars.count {
            guard breaks.contains(scalars[index].value) else { index += 1; continue }
            var end = index + 1
            if scalars[index] == "\r", end < scalars.count, scalars[end] == "\n" { end += 1 }
            lines.append(String(String.UnicodeScalarView(scalars[start..<(keepEnds ? end : index)])))
            start = end
            index = end
        }
        if start < scalars.count { lines.append(String(String.UnicodeScalarView(scalars[start...]))) }
        return lines
    }

    /// Jinja's `indent` filter: indents every line after the first (and the first too when `first`); blank lines
    /// only when `blank`.
    static func indent(_ text: String, by indentation: String, first: Bool, blank: Bool) -> String {
        var lines = splitLines(text + "\n")
        var result: String
        if blank {
            result = lines.joined(separator: "\n" + indentation)
        } else {
            result = lines.isEmpty ? "" : lines.removeFirst()
            if !lines.isEmpty {
                result += "\n" + lines.map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
            }
        }
        return first ? indentation + result : result
    }
}
