import Foundation
import JSON

/// `output_dir/summary.json`: the table a run ends with, the metrics of each split before and after training, written
/// by `dpo-dist train` and `sft` and shown by `dpo-dist report`.
public struct RunSummary: Equatable, Sendable {
    public static let fileName = "summary.json"

    /// Optimizer steps the run completed.
    public var steps: Int
    /// The metrics the console's table shows, in its order (the rest of each split's metrics follow them).
    public var tableMetrics: [String]
    public var splits: [Split]

    /// One set of examples: `train` or `held-out`.
    public struct Split: Equatable, Sendable {
        public var name: String
        public var metrics: [Metric]

        public init(name: String, metrics: [Metric]) {
            self.name = name
            self.metrics = metrics
        }
    }

    public struct Metric: Equatable, Sendable {
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

    public init(steps: Int, tableMetrics: [String], splits: [Split]) {
        self.steps = steps
        self.tableMetrics = tableMetrics
        self.splits = splits
    }

    /// The file's text: indented JSON, keys sorted, lists in their order.
    public var json: String {
        JSONValue.object([
            "steps": .integer(steps), "table_metrics": .array(tableMetrics.map(JSONValue.string)),
            "splits": .array(splits.map { split in
                .object(["name": .string(split.name), "metrics": .array(split.metrics.map { metric in
                    .object(["name": .string(metric.name), "before": metric.before.map(JSONValue.double) ?? .null,
                             "after": metric.after.map(JSONValue.double) ?? .null])
                })])
            }),
        ]).serialized(.indentedSorted) + "\n"
    }

    /// Reads `url`; a file that is not such a summary is a `RunFolderError` naming it (and the key, for a bad one).
    public static func read(from url: URL) throws -> RunSummary {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw RunFolderError("\(url.path): cannot read it")
        }
        do {
            let root = try JSONField.parse(data, file: url.path)
            return RunSummary(
                steps: try root.required("steps").int(),
                tableMetrics: try root.required("table_metrics").array().map { try $0.string() },
                splits: try root.required("splits").array().map { split in
                    Split(name: try split.required("name").string(), metrics: try split.required("metrics").array().map {
                        Metric(name: try $0.required("name").string(), before: try $0.optional("before")?.double() ?? .nan,
                               after: try $0.optional("after")?.double() ?? .nan)
                    })
                })
        } catch let error as JSONError {
            throw RunFolderError("\(error)")
        }
    }
}

/// A file of a run folder that cannot be used, always naming the file (and the line, for metrics.jsonl).
public struct RunFolderError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
