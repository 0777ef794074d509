import Foundation
import JSON

/// One logged record: ordered (name, value) pairs, written as one JSON object per line.
public struct MetricsRecord: Sendable {
    public var fields: [(name: String, value: Double)]

    public init(_ fields: [(name: String, value: Double)] = []) {
        self.fields = fields
    }

    public subscript(name: String) -> Double? {
        fields.first { $0.name == name }?.value
    }

    /// A JSON object with the fields in order; integral step counters print without a decimal point
    /// and non-finite numbers (which JSON cannot hold) as null.
    public var jsonLine: String {
        JSONValue.object(JSONObject(fields.map { field in
            if ["step", "num_tokens"].contains(field.name), let count = Int(exactly: field.value) {
                return (key: field.name, value: .integer(count))
            }
            return (key: field.name, value: .double(field.value))
        })).serialized(.spaced)
    }
}

/// Rank 0's metrics output: `metrics.jsonl` in the output folder, and each `report_to` destination.
final class MetricsLog {
    private let handle: FileHandle
    let url: URL
    static let fileName = "metrics.jsonl"
    private let reporters: [any MetricsReporter]

    /// Opens `<outputDir>/metrics.jsonl` and the `reportTo` destinations. When resuming after `keepThroughStep`,
    /// records of later steps (written after the checkpoint by the interrupted run) are dropped so the file reads as
    /// one run.
    init(outputDir: URL, keepThroughStep: Int?, reportTo: [TrainingConfig.ReportDestination] = []) throws {
        reporters = try reportTo.map { try $0.reporter(outputDir: outputDir, resumingAfter: keepThroughStep) }
        url = outputDir.appendingPathComponent(Self.fileName)
        var kept = Data()
        if let keepThroughStep, let existing = try? String(contentsOf: url, encoding: .utf8) {
            for line in existing.split(separator: "\n") where Self.step(of: line).map({ $0 <= keepThroughStep }) ?? false {
                kept.append(contentsOf: Array((line + "\n").utf8))
            }
        }
        try kept.write(to: url, options: .atomic)
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    deinit {
        try? handle.close()
    }

    /// The record's step; nil for a line that is not a record with one (say, cut short by a crash).
    private static func step(of line: Substring) -> Int? {
        try? JSONField.parse(Array(line.utf8), file: "metrics.jsonl").optional("step")?.int()
    }

    func write(_ record: MetricsRecord) throws {
        try handle.write(contentsOf: Data((record.jsonLine + "\n").utf8))
        for reporter in reporters {
            try reporter.write(record)
        }
    }
}

/// A short human-readable line for the console, with TRL's metric names: the loss, then DPO's reward accuracy and
/// margin or SFT's token accuracy, then (for training records) gradient norm, learning rate and throughput, and the
/// time since training began with the estimated time left (`progress`).
func consoleLine(_ record: MetricsRecord, totalSteps: Int, progress: (elapsed: Double, remaining: Double?)? = nil) -> String {
    let step = Int(record["step"] ?? 0)
    let isEvaluation = record["eval_loss"] != nil
    let prefix = isEvaluation ? "eval_" : ""
    var parts = [isEvaluation ? "eval  step \(step)" : "step \(step)/\(totalSteps)"]
    for (name, format) in [("loss", "%.4f"), ("rewards/accuracies", "%.3f"), ("rewards/margins", "%.4f"),
                           ("mean_token_accuracy", "%.3f"), ("grad_norm", "%.3f"), ("learning_rate", "%.2e")] {
        if let value = record[prefix + name] {
            parts.append("\(prefix + name) \(String(format: format, value))")
        }
    }
    if let throughput = record["train_tokens_per_second"] {
        parts.append(String(format: "%.0f tok/s", throughput))
    }
    if let progress {
        parts.append(durationText(progress.elapsed) + (progress.remaining.map { ", ETA " + durationText($0) } ?? ""))
    }
    return parts.joined(separator: " | ")
}

/// Seconds as `m:ss` or `h:mm:ss`.
func durationText(_ seconds: Double) -> String {
    let total = Int(seconds.rounded())
    let (hours, minutes, rest) = (total / 3600, total / 60 % 60, total % 60)
    return hours > 0 ? String(format: "%d:%02d:%02d", hours, minutes, rest) : String(format: "%d:%02d", minutes, rest)
}
