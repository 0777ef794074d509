import Foundation
import JSON
import Yams

/// What `dpo-dist report` reads of one run folder: the records of metrics.jsonl, the resolved configuration
/// (config.yaml) and the before/after table (summary.json), each if it is there, and notes on what is not.
public struct RunFolder {
    public let url: URL
    /// The folder as the command line named it.
    public let label: String
    /// metrics.jsonl's records in order; a JSON null (a non-finite value) is absent from its record.
    public private(set) var records: [[String: Double]] = []
    /// Every metric name of the records, in the order first seen.
    public private(set) var metricNames: [String] = []
    /// config.yaml's keys (nested ones dotted) and values as written.
    public private(set) var config: [(key: String, value: String)]?
    public private(set) var summary: RunSummary?
    /// What is missing or was skipped, in words for the page.
    public private(set) var notes: [String] = []

    public static let metricsFile = "metrics.jsonl", configFile = "config.yaml"

    /// Reads the folder; a file that is there but cannot be used is a `RunFolderError` naming it (and its line).
    public init(url: URL, label: String) throws {
        self.url = url
        self.label = label
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RunFolderError("\(label): no such folder")
        }
        let metrics = url.appendingPathComponent(Self.metricsFile)
        if let text = try? String(contentsOf: metrics, encoding: .utf8) {
            try readRecords(text, file: metrics.path)
        } else {
            notes.append("no \(Self.metricsFile): the run has logged nothing yet, or this is not a run folder")
        }
        let configURL = url.appendingPathComponent(Self.configFile)
        if let text = try? String(contentsOf: configURL, encoding: .utf8) {
            config = try Self.flattened(yaml: text, file: configURL.path)
        } else {
            notes.append("no \(Self.configFile): the run was made before dpo-dist saved its resolved configuration")
        }
        let summaryURL = url.appendingPathComponent(RunSummary.fileName)
        if FileManager.default.fileExists(atPath: summaryURL.path) {
            summary = try RunSummary.read(from: summaryURL)
        } else {
            notes.append("no \(RunSummary.fileName): the run has not finished (or was made before dpo-dist saved it)")
        }
    }

    /// One JSON object per line. A last line cut short (a run killed while writing it) is skipped with a note; any
    /// other line that is not a record is an error.
    private mutating func readRecords(_ text: String, file: String) throws {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() where !line.isEmpty {
            let record: [(key: String, value: JSONField)]
            do {
                record = try JSONField.parse(Array(line.utf8), file: file).members()
            } catch {
                guard index == lines.count - 1 else { throw RunFolderError("\(file):\(index + 1): \(error)") }
                notes.append("\(Self.metricsFile) line \(index + 1) is cut short and was skipped")
                continue
            }
            var values: [String: Double] = [:]
            for (name, field) in record where field.value != .null {
                do {
                    values[name] = try field.double()
                } catch {
                    throw RunFolderError("\(file):\(index + 1): \(error)")
                }
                if !metricNames.contains(name) { metricNames.append(name) }
            }
            records.append(values)
        }
    }

    /// A YAML mapping's scalars as `key: value`, nested mappings' keys dotted, sequences as `[a, b]`.
    static func flattened(yaml: String, file: String) throws -> [(key: String, value: String)] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw RunFolderError("\(file): not valid YAML: \(error)")
        }
        guard let root else { return [] }
        guard case .mapping = root else { throw RunFolderError("\(file): not a mapping of keys to values") }
        func entries(_ node: Node, prefix: String) -> [(key: String, value: String)] {
            guard case .mapping(let mapping) = node else { return [] }
            return mapping.flatMap { key, value -> [(key: String, value: String)] in
                let name = prefix + (key.string ?? "?")
                switch value {
                case .mapping: return entries(value, prefix: name + ".")
                case .sequence(let items): return [(name, "[" + items.map { $0.string ?? "?" }.joined(separator: ", ") + "]")]
                case .scalar, .alias: return [(name, value.string ?? "null")]
                }
            }
        }
        return entries(root, prefix: "")
    }

    /// The (step, value) points of `name` over the records that have both, in order.
    public func points(_ name: String) -> [(x: Double, y: Double)] {
        records.compactMap { record in
            guard let step = record["step"], let value = record[name] else { return nil }
            return (step, value)
        }
    }
}
