import Foundation

/// `output_dir/summary.json`: the table a run ends with, the metrics of each split before and after training, written
/// by `dpo-dist train` and `sft` and shown by `dpo-dist report`.
public struct RunSummary: Codable, Equatable, Sendable {
    public static let fileName = "summary.json"

    /// Optimizer steps the run completed.
    public var steps: Int
    /// The metrics the console's table shows, in its order (the rest of each split's metrics follow them).
    public var tableMetrics: [String]
    public var splits: [Split]

    /// One set of examples: `train` or `held-out`.
    public struct Split: Codable, Equatable, Sendable {
        public var name: String
        public var metrics: [Metric]

        public init(name: String, metrics: [Metric]) {
            self.name = name
            self.metrics = metrics
        }
    }

    public struct Metric: Codable, Equatable, Sendable {
        public var name: String
        /// nil where the value was not finite, which JSON cannot hold.
        public var before: Double?
        public var after: Double?

        public init(name: String, before: Double, after: Double) {
            self.name = name
            self.before = before.isFinite ? before : nil
            self.after = after.isFinite ? after : nil
        }
    }

    enum CodingKeys: String, CodingKey {
        case steps, splits
        case tableMetrics = "table_metrics"
    }

    public init(steps: Int, tableMetrics: [String], splits: [Split]) {
        self.steps = steps
        self.tableMetrics = tableMetrics
        self.splits = splits
    }

    /// The file's bytes: indented JSON, keys sorted, lists in their order.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self) + Data("\n".utf8)
    }

    /// Reads `url`; a file that is not such a summary is a `RunFolderError` naming it.
    public static func read(from url: URL) throws -> RunSummary {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw RunFolderError("\(url.path): cannot read it: \(error.localizedDescription)")
        }
        do {
            return try JSONDecoder().decode(RunSummary.self, from: data)
        } catch {
            throw RunFolderError("\(url.path): not a dpo-dist run summary: \(error)")
        }
    }
}

/// A file of a run folder that cannot be used, always naming the file (and the line, for metrics.jsonl).
public struct RunFolderError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
