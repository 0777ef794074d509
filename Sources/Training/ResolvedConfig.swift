import Foundation
import Yams

/// A key's value as the resolved config file writes it.
enum ConfigValue: Equatable {
    case null
    case bool(Bool)
    case integer(Int)
    /// Written as Swift's shortest text that reads back as the same double.
    case real(Double)
    case text(String)
    case list([ConfigValue])

    /// An element of a list key: a number, or a choice written as the name the key accepts.
    static func item(_ element: Any) -> ConfigValue {
        switch element {
        case let number as Int: .integer(number)
        case let number as Double: .real(number)
        case let choice as any RawRepresentable: .text("\(rawValue(of: choice))")
        default: .text("\(element)")
        }
    }

    private static func rawValue<Choice: RawRepresentable>(of choice: Choice) -> Choice.RawValue { choice.rawValue }

    var node: Node {
        switch self {
        case .null: Node("null")
        case .bool(let flag): Node(flag ? "true" : "false")
        case .integer(let number): Node(String(number))
        case .real(let number): Node("\(number)")
        // Quoted where YAML would read the plain text as something else (`true`, `null`, `1e-3`, `a: b`).
        case .text(let text): .scalar(text.represented())
        case .list(let items): .sequence(Node.Sequence(items.map(\.node), Tag(.seq), .flow))
        }
    }
}

extension ConfigLoader {
    /// The file every run saves as `output_dir/config.yaml` (and in each checkpoint).
    public static let resolvedFileName = "config.yaml"

    /// Every key of the table with its value in `config`: top-level keys sorted by name, dotted keys (`model.n_layer`)
    /// as a nested mapping, relative input paths (datasets, model, cache) made absolute against the working directory,
    /// since a config file's own paths resolve against its folder. `load(file:overrides:)` of this text gives `config`
    /// back (with those paths absolute), wherever the file is read from, so it records exactly what ran.
    public static func resolvedYAML(of config: TrainingConfig) throws -> String {
        var topLevel: [(key: String, value: Node?)] = []
        var sections: [String: [(Node, Node)]] = [:]
        let workingDirectory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        for (key, entry) in ConfigKeys.table.sorted(by: { $0.key < $1.key }) {
            guard var value = entry.value?(config) else { continue }
            if case .text(let path) = value, let absolute = resolved(path, of: key, in: workingDirectory) {
                value = .text(absolute)
            }
            if let dot = key.firstIndex(of: "."), ConfigKeys.sections.contains(String(key[..<dot])) {
                let section = String(key[..<dot])
                if sections[section] == nil { topLevel.append((section, nil)) }
                sections[section, default: []].append((Node(String(key[key.index(after: dot)...])), value.node))
            } else {
                topLevel.append((key, value.node))
            }
        }
        let pairs = topLevel.map { pair -> (Node, Node) in
            (Node(pair.key), pair.value ?? .mapping(Node.Mapping(sections[pair.key] ?? [], Tag(.map), .block)))
        }
        let header = "# The resolved configuration of this run: every key, as `dpo-dist train --config` reads it.\n"
        return header + (try Yams.serialize(node: .mapping(Node.Mapping(pairs, Tag(.map), .block))))
    }
}
