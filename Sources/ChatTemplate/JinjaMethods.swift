import Foundation

extension JinjaBuiltins {
    /// Python str methods that exist but are not implemented: calling one is an "unsupported" error rather
    /// than Jinja's silent Undefined.
    private static let unimplementedStringMethods: Set<String> = [
        "format", "format_map", "zfill", "center", "ljust", "rjust", "partition", "rpartition", "rsplit",
        "casefold", "expandtabs", "encode", "swapcase", "translate", "index", "rindex", "isnumeric", "isdecimal",
        "istitle", "isidentifier", "isprintable", "isascii", "maketrans",
    ]

    /// The bound method `value.name` when the value's Python type has one we implement: str methods templates
    /// use, and dict `items/keys/values/get`. Returns nil when the type has no such method.
    static func method(_ name: String, of value: JinjaValue) throws -> JinjaValue? {
        let body: Method?
        switch value {
        case .string(let text): body = stringMethod(name, text)
        case .dictionary(let dictionary): body = dictionaryMethod(name, dictionary)
        default: body = nil
        }
        guard let body else { return nil }
        return .function(JinjaFunction(name: "\(value.typeName).\(name)", body: body))
    }

    /// A bound method's body.
    typealias Method = @Sendable (JinjaArguments) throws -> JinjaValue

    private static func dictionaryMethod(_ name: String, _ dictionary: JinjaDictionary) -> Method? {
        switch name {
        case "items": return { _ in .list(dictionary.entries.map { .list([.string($0.key), $0.value]) }) }
        case "keys": return { _ in .list(dictionary.keys.map { .string($0) }) }
        case "values": return { _ in .list(dictionary.entries.map(\.value)) }
        case "get":
            return { arguments in
                guard case .string(let key)? = arguments.value(0, "key") else { return arguments.value(1, "default") ?? .none }
                return dictionary[key] ?? arguments.value(1, "default") ?? .none
            }
        default: return nil
        }
    }

    private static func stringMethod(_ name: String, _ text: String) -> Method? {
        let scalars = Array(text.unicodeScalars)
        func affixTest(_ matches: @escaping @Sendable ([Unicode.Scalar]) -> Bool) -> Method {
            return { arguments in
                guard arguments.positional.count == 1 else {
                    throw ChatTemplateError(.unsupported, "str.\(name) with start/end arguments")
                }
                switch arguments.positional[0] {
                case .string(let affix): return .bool(matches(Array(affix.unicodeScalars)))
                case .list(let options):
                    return .bool(try options.contains { option in
                        guard case .string(let affix) = option else {
                            throw renderError("str.\(name) needs strings, got '\(option.typeName)'")
                        }
                        return matches(Array(affix.unicodeScalars))
                    })
                default:
                    throw renderError("str.\(name) needs a string or a tuple of strings")
                }
            }
        }
        func stripper(leading: Bool, trailing: Bool) -> Method {
            return { arguments in
                .string(strip(text, characters: try stringArgument(arguments.value(0, "chars"), "chars"),
                              leading: leading, trailing: trailing))
            }
        }
        func characterTest(_ test: @escaping @Sendable (Unicode.Scalar) -> Bool) -> Method {
            return { _ in .bool(!scalars.isEmpty && scalars.allSatisfy(test)) }
        }
        switch name {
        case "startswith": return affixTest { scalars.starts(with: $0) }
        case "endswith": return affixTest { scalars.reversed().starts(with: $0.reversed()) }
        case "strip": return stripper(leading: true, trailing: true)
        case "lstrip": return stripper(leading: true, trailing: false)
        case "rstrip": return stripper(leading: false, trailing: true)
        case "upper": return { _ in .string(text.uppercased()) }
        case "lower": return { _ in .string(text.lowercased()) }
        case "capitalize": return { _ in .string(capitalized(text)) }
        case "title": return { _ in .string(pythonTitle(text)) }
        case "split":
            return { arguments in
                let maximum = arguments.value(1, "maxsplit")?.integerValue ?? -1
                let separator = try stringArgument(arguments.value(0, "sep"), "sep")
                return .list(try split(scalars, separator: separator, maximum: maximum).map { .string($0) })
            }
        case "splitlines":
            return { arguments in
                .list(splitLines(text, keepEnds: arguments.value(0, "keepends")?.isTruthy ?? false).map { .string($0) })
            }
        case "replace":
            return { arguments in
                guard let old = try stringArgument(arguments.value(0, "old"), "old"),
                      let new = try stringArgument(arguments.value(1, "new"), "new") else {
                    throw renderError("str.replace needs the old and new strings")
                }
                return .string(replace(text, old, new, count: arguments.value(2, "count")?.integerValue ?? -1))
            }
        case "find", "rfind", "count":
            return { arguments in
                guard let needle = try stringArgument(arguments.value(0, "sub"), "sub") else {
                    throw renderError("str.\(name) needs a string")
                }
                let pattern = Array(needle.unicodeScalars)
                var hits: [Int] = []
                var start = 0
                while let found = findScalars(pattern, in: scalars, from: start) {
                    hits.append(found)
                    start = found + max(pattern.count, 1)
                    if start > scalars.count { break }
                }
                switch name {
                case "find": return .integer(hits.first ?? -1)
                case "rfind": return .integer(pattern.isEmpty ? scalars.count : (hits.last ?? -1))
                default: return .integer(hits.count)
                }
            }
        case "join":
            return { arguments in
                guard let iterable = arguments.value(0, "iterable") else { throw renderError("str.join needs a list") }
                return .string(try sequenceItems(iterable, for: "join").map { item in
                    guard case .string(let part) = item else {
                        throw renderError("str.join expects strings, found '\(item.typeName)'")
                    }
                    return part
                }.joined(separator: text))
            }
        case "removeprefix", "removesuffix":
            return { arguments in
                guard let affix = try stringArgument(arguments.value(0, "affix"), "affix") else {
                    throw renderError("str.\(name) needs a string")
                }
                let pattern = Array(affix.unicodeScalars)
                if name == "removeprefix", scalars.starts(with: pattern) {
                    return .string(String(String.UnicodeScalarView(scalars.dropFirst(pattern.count))))
                }
                if name == "removesuffix", !pattern.isEmpty, scalars.reversed().starts(with: pattern.reversed()) {
                    return .string(String(String.UnicodeScalarView(scalars.dropLast(pattern.count))))
                }
                return .string(text)
            }
        case "isspace": return characterTest { isPythonWhitespace($0) }
        case "isdigit": return characterTest { ("0"..."9").contains($0) }
        case "isalpha": return characterTest { $0.properties.isAlphabetic }
        case "isalnum": return characterTest { $0.properties.isAlphabetic || ("0"..."9").contains($0) }
        case "islower": return { _ in .bool(text.lowercased() == text && text.uppercased() != text) }
        case "isupper": return { _ in .bool(text.uppercased() == text && text.lowercased() != text) }
        default:
            guard unimplementedStringMethods.contains(name) else { return nil }
            return { _ in throw ChatTemplateError(.unsupported, "the string method '\(name)'") }
        }
    }

    /// Python's `str.split`: on runs of whitespace (dropping empty pieces) without a separator, otherwise on
    /// each occurrence of it; at most `maximum` splits when non-negative.
    static func split(_ scalars: [Unicode.Scalar], separator: String?, maximum: Int) throws -> [String] {
        func string(_ slice: ArraySlice<Unicode.Scalar>) -> String { String(String.UnicodeScalarView(slice)) }
        var pieces: [String] = []
        guard let separator else {
            var index = 0
            while index < scalars.count {
                while index < scalars.count, isPythonWhitespace(scalars[index]) { index += 1 }
                guard index < scalars.count else { break }
                if maximum >= 0 && pieces.count == maximum {
                    var end = scalars.count
                    while end > index, isPythonWhitespace(scalars[end - 1]) { end -= 1 }
                    pieces.append(string(scalars[index..<end]))
                    break
                }
                let start = index
                while index < scalars.count, !isPythonWhitespace(scalars[index]) { index += 1 }
                pieces.append(string(scalars[start..<index]))
            }
            return pieces
        }
        let pattern = Array(separator.unicodeScalars)
        guard !pattern.isEmpty else { throw renderError("empty separator") }
        var start = 0
        while maximum < 0 || pieces.count < maximum, let found = findScalars(pattern, in: scalars, from: start) {
            pieces.append(string(scalars[start..<found]))
            start = found + pattern.count
        }
        pieces.append(string(scalars[start...]))
        return pieces
    }

    /// Python's `str.title()`: a letter after a cased letter is lowered, any other letter raised.
    private static func pythonTitle(_ text: String) -> String {
        var result = ""
        var previousIsCased = false
        for scalar in text.unicodeScalars {
            result += previousIsCased ? String(scalar).lowercased() : String(scalar).uppercased()
            previousIsCased = scalar.properties.isCased
        }
        return result
    }

    // MARK: globals

    /// Names every template sees, as transformers' environment defines them: `raise_exception`, `namespace`,
    /// `strftime_now`, `dict`, plus Jinja's `range`.
    static let globals: [String: JinjaValue] = [
        "raise_exception": .function(JinjaFunction(name: "raise_exception") { arguments in
            throw ChatTemplateError(.raisedByTemplate, arguments.positional.first.map(text) ?? "")
        }),
        "namespace": .function(JinjaFunction(name: "namespace") { arguments in
            var attributes = JinjaDictionary()
            if case .dictionary(let initial)? = arguments.positional.first { attributes = initial }
            for keyword in arguments.keywords { attributes[keyword.name] = keyword.value }
            return .object(JinjaObject(typeName: "Namespace", acceptsAssignment: true, attributes: attributes))
        }),
        "dict": .function(JinjaFunction(name: "dict") { arguments in
            var dictionary = JinjaDictionary()
            if case .dictionary(let initial)? = arguments.positional.first { dictionary = initial }
            for keyword in arguments.keywords { dictionary[keyword.name] = keyword.value }
            return .dictionary(dictionary)
        }),
        "range": .function(JinjaFunction(name: "range") { arguments in
            let bounds = try arguments.positional.map { value -> Int in
                guard let number = value.integerValue else { throw renderError("range() needs integers") }
                return number
            }
            let (start, end, step): (Int, Int, Int)
            switch bounds.count {
            case 1: (start, end, step) = (0, bounds[0], 1)
            case 2: (start, end, step) = (bounds[0], bounds[1], 1)
            case 3: (start, end, step) = (bounds[0], bounds[1], bounds[2])
            default: throw renderError("range() takes 1 to 3 integers")
            }
            guard step != 0 else { throw renderError("range() step must not be zero") }
            guard (end - start) / step <= 100_000 else { throw renderError("range() longer than 100000 items") }
            return .list(stride(from: start, to: end, by: step).map { .integer($0) })
        }),
        "strftime_now": .function(JinjaFunction(name: "strftime_now") { arguments in
            guard case .string(let format)? = arguments.positional.first else {
                throw renderError("strftime_now() needs a format string")
            }
            return .string(try formatDate(Date(), format: format))
        }),
    ]

    private static let monthNames = ["January", "February", "March", "April", "May", "June", "July", "August",
                                     "September", "October", "November", "December"]
    private static let weekdayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    /// Python's `datetime.strftime` in the C locale for the directives chat templates use
    /// (`%d %m %Y %y %b %B %a %A %H %M %S %j %%`), in local time like `datetime.now()`.
    static func formatDate(_ date: Date, format: String) throws -> String {
        let parts = Calendar(identifier: .gregorian).dateComponents(in: TimeZone.current, from: date)
        func padded(_ value: Int?, _ width: Int = 2) -> String {
            let digits = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        var result = ""
        var scalars = format.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            guard scalar == "%" else { result.unicodeScalars.append(scalar); continue }
            guard let directive = scalars.next() else { result += "%"; break }
            let month = monthNames[((parts.month ?? 1) - 1) % 12]
            let weekday = weekdayNames[((parts.weekday ?? 1) - 1) % 7]
            switch directive {
            case "d": result += padded(parts.day)
            case "m": result += padded(parts.month)
            case "Y": result += padded(parts.year, 4)
            case "y": result += padded((parts.year ?? 0) % 100)
            case "B": result += month
            case "b": result += String(month.prefix(3))
            case "A": result += weekday
            case "a": result += String(weekday.prefix(3))
            case "H": result += padded(parts.hour)
            case "M": result += padded(parts.minute)
            case "S": result += padded(parts.second)
            case "j": result += padded(Calendar(identifier: .gregorian).ordinality(of: .day, in: .year, for: date), 3)
            case "%": result += "%"
            default: throw ChatTemplateError(.unsupported, "the strftime directive %\(directive)")
            }
        }
        return result
    }
}
