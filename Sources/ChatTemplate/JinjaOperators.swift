import Foundation

/// Python semantics of the operations templates perform on values: attribute and item access, slicing, calls,
/// arithmetic, comparisons and membership. Errors carry no location; the renderer adds the expression's.
enum JinjaBuiltins {
    static func renderError(_ message: String) -> ChatTemplateError { ChatTemplateError(.render, message) }

    /// Using an Undefined value for anything but printing, truth or iteration fails with its hint, as in Jinja.
    static func requireDefined(_ value: JinjaValue) throws {
        if case .undefined(let hint) = value { throw renderError(hint) }
    }

    // MARK: access

    /// `value.name`: a method when the type has one by that name (as Python's getattr finds first), otherwise a
    /// dict key or namespace attribute, otherwise Undefined.
    static func attribute(_ name: String, of value: JinjaValue) throws -> JinjaValue {
        try requireDefined(value)
        if let method = try method(name, of: value) { return method }
        let missing = JinjaValue.undefined(hint: "'\(value.typeName) object' has no attribute '\(name)'")
        switch value {
        case .dictionary(let dictionary): return dictionary[name] ?? missing
        case .object(let object): return object.attributes[name] ?? missing
        default: return missing
        }
    }

    /// `value[key]`: dict keys and list/string indices (negative ones count from the end) first, then methods
    /// for string keys, otherwise Undefined.
    static func item(_ key: JinjaValue, of value: JinjaValue) throws -> JinjaValue {
        try requireDefined(value)
        switch (value, key) {
        case (.dictionary(let dictionary), .string(let name)):
            if let found = dictionary[name] { return found }
        case (.list(let items), _):
            if let index = key.integerValue {
                let position = index < 0 ? index + items.count : index
                return items.indices.contains(position)
                    ? items[position] : .undefined(hint: "list index \(index) out of range")
            }
        case (.string(let text), _):
            if let index = key.integerValue {
                let scalars = Array(text.unicodeScalars)
                let position = index < 0 ? index + scalars.count : index
                return scalars.indices.contains(position)
                    ? .string(String(scalars[position])) : .undefined(hint: "string index \(index) out of range")
            }
        default:
            break
        }
        if case .string(let name) = key { return try attribute(name, of: value) }
        return .undefined(hint: "'\(value.typeName) object' has no element \(key.pythonRepresentation)")
    }

    /// `value[start:stop:step]` on lists and strings, with Python's clamping and negative indices.
    static func slice(_ value: JinjaValue, start: JinjaValue?, stop: JinjaValue?, step: JinjaValue?) throws
        -> JinjaValue {
        try requireDefined(value)
        func bound(_ part: JinjaValue?) throws -> Int? {
            guard let part, !(part.isUndefined || { if case .none = part { return true }; return false }()) else {
                return nil
            }
            guard let number = part.integerValue else {
                throw renderError("slice indices must be integers or None, not '\(part.typeName)'")
            }
            return number
        }
        let stride = try bound(step) ?? 1
        guard stride != 0 else { throw renderError("slice step cannot be zero") }
        func positions(count: Int) throws -> [Int] {
            func clamp(_ index: Int?, default fallback: Int) -> Int {
                guard var index else { return fallback }
                if index < 0 { index += count }
                return stride > 0 ? min(max(index, 0), count) : min(max(index, -1), count - 1)
            }
            let first = clamp(try bound(start), default: stride > 0 ? 0 : count - 1)
            let end = clamp(try bound(stop), default: stride > 0 ? count : -1)
            return Array(Swift.stride(from: first, to: end, by: stride))
        }
        switch value {
        case .list(let items):
            return .list(try positions(count: items.count).map { items[$0] })
        case .string(let text):
            let scalars = Array(text.unicodeScalars)
            return .string(String(String.UnicodeScalarView(try positions(count: scalars.count).map { scalars[$0] })))
        default:
            throw renderError("'\(value.typeName)' object is not subscriptable")
        }
    }

    static func call(_ callee: JinjaValue, _ arguments: JinjaArguments) throws -> JinjaValue {
        try requireDefined(callee)
        guard case .function(let function) = callee else {
            throw renderError("'\(callee.typeName)' object is not callable")
        }
        return try function.body(arguments)
    }

    // MARK: arithmetic

    static func negate(_ value: JinjaValue) throws -> JinjaValue {
        try requireDefined(value)
        if let integer = value.integerValue { return .integer(-integer) }
        if case .float(let number) = value { return .float(-number) }
        throw renderError("bad operand type for unary -: '\(value.typeName)'")
    }

    static func arithmetic(_ op: String, _ left: JinjaValue, _ right: JinjaValue) throws -> JinjaValue {
        try requireDefined(left)
        try requireDefined(right)
        let unsupported = renderError(
            "unsupported operand type(s) for \(op): '\(left.typeName)' and '\(right.typeName)'")
        switch (op, left, right) {
        case ("+", .string(let a), .string(let b)): return .string(a + b)
        case ("+", .list(let a), .list(let b)): return .list(a + b)
        case ("*", .string(let text), _), ("*", _, .string(let text)):
            guard let count = (left.integerValue ?? right.integerValue) else { throw unsupported }
            return .string(String(repeating: text, count: max(0, count)))
        case ("*", .list(let items), _), ("*", _, .list(let items)):
            guard let count = (left.integerValue ?? right.integerValue) else { throw unsupported }
            return .list(Array(repeating: items, count: max(0, count)).flatMap { $0 })
        case ("%", .string, _):
            throw ChatTemplateError(.unsupported, "'%' string formatting")
        default:
            break
        }
        if let a = left.integerValue, let b = right.integerValue {
            return try integerArithmetic(op, a, b)
        }
        guard let a = left.numericValue, let b = right.numericValue else { throw unsupported }
        switch op {
        case "+": return .float(a + b)
        case "-": return .float(a - b)
        case "*": return .float(a * b)
        case "/", "//", "%":
            guard b != 0 else { throw renderError("float division by zero") }
            if op == "/" { return .float(a / b) }
            let quotient = (a / b).rounded(.down)
            return .float(op == "//" ? quotient : a - quotient * b)
        case "**": return .float(pow(a, b))
        default: throw unsupported
        }
    }

    private static func integerArithmetic(_ op: String, _ a: Int, _ b: Int) throws -> JinjaValue {
        let overflow = ChatTemplateError(.unsupported, "integer arithmetic beyond 64 bits")
        func checked(_ result: (partialValue: Int, overflow: Bool)) throws -> JinjaValue {
            guard !result.overflow else { throw overflow }
            return .integer(result.partialValue)
        }
        switch op {
        case "+": return try checked(a.addingReportingOverflow(b))
        case "-": return try checked(a.subtractingReportingOverflow(b))
        case "*": return try checked(a.multipliedReportingOverflow(by: b))
        case "/":
            guard b != 0 else { throw renderError("division by zero") }
            return .float(Double(a) / Double(b))
        case "//", "%":
            guard b != 0 else { throw renderError("integer division or modulo by zero") }
            var quotient = a / b
            if (a % b != 0) && ((a < 0) != (b < 0)) { quotient -= 1 }
            return .integer(op == "//" ? quotient : a - quotient * b)
        case "**":
            if b < 0 { return .float(pow(Double(a), Double(b))) }
            var result = 1
            for _ in 0..<b {
                let product = result.multipliedReportingOverflow(by: a)
                guard !product.overflow else { throw overflow }
                result = product.partialValue
            }
            return .integer(result)
        default:
            throw renderError("unknown operator \(op)")
        }
    }

    // MARK: comparison

    static func compare(_ op: String, _ left: JinjaValue, _ right: JinjaValue) throws -> Bool {
        switch op {
        case "==": return equals(left, right)
        case "!=": return !equals(left, right)
        case "in": return try contains(right, left)
        case "notin": return !(try contains(right, left))
        case "<": return try isLess(left, right, op)
        case ">": return try isLess(right, left, op)
        case "<=": return try !isLess(right, left, op)
        case ">=": return try !isLess(left, right, op)
        default: throw renderError("unknown comparison \(op)")
        }
    }

    /// Python `==`: numbers compare by value across bool/int/float, strings by code points, containers
    /// element-wise; Undefined equals only Undefined.
    static func equals(_ left: JinjaValue, _ right: JinjaValue) -> Bool {
        switch (left, right) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.list(let a), .list(let b)): return a.count == b.count && zip(a, b).allSatisfy { equals($0, $1) }
        case (.dictionary(let a), .dictionary(let b)):
            return a.count == b.count && a.entries.allSatisfy { entry in b[entry.key].map { equals(entry.value, $0) } ?? false }
        case (.object(let a), .object(let b)): return a === b
        default:
            if let a = left.numericValue, let b = right.numericValue { return a == b }
            return false
        }
    }

    /// Python `<` for numbers, strings (by code point) and lists; other pairs are a TypeError.
    private static func isLess(_ left: JinjaValue, _ right: JinjaValue, _ op: String) throws -> Bool {
        try requireDefined(left)
        try requireDefined(right)
        switch (left, right) {
        case (.string(let a), .string(let b)):
            return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
        case (.list(let a), .list(let b)):
            for (x, y) in zip(a, b) where !equals(x, y) { return try isLess(x, y, op) }
            return a.count < b.count
        default:
            if let a = left.numericValue, let b = right.numericValue { return a < b }
            throw renderError("'\(op)' not supported between instances of '\(left.typeName)' and '\(right.typeName)'")
        }
    }

    /// Python `item in container`.
    static func contains(_ container: JinjaValue, _ item: JinjaValue) throws -> Bool {
        switch container {
        case .undefined: return false
        case .string(let text):
            guard case .string(let needle) = item else {
                throw renderError("'in <string>' requires string as left operand, not \(item.typeName)")
            }
            return findScalars(Array(needle.unicodeScalars), in: Array(text.unicodeScalars), from: 0) != nil
        case .list(let items): return items.contains { equals($0, item) }
        case .dictionary(let dictionary):
            if case .string(let key) = item { return dictionary[key] != nil }
            return false
        default:
            throw renderError("argument of type '\(container.typeName)' is not iterable")
        }
    }

    /// Index of the first occurrence of `needle` in `haystack` at or after `start`.
    static func findScalars(_ needle: [Unicode.Scalar], in haystack: [Unicode.Scalar], from start: Int) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var index = start
        while index + needle.count <= haystack.count {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
