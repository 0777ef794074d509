import Foundation

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
        let body = fields.map { field -> String in
            let value: String
            if !field.value.isFinite {
                value = "null"
            } else if ["step", "num_tokens"].contains(field.name), field.value == field.value.rounded() {
                value = String(Int(field.value))
            } else {
                value = "\(field.value)"
            }
            return "\"\(field.name)\": \(value)"
        }
        return "{" + body.joined(separator: ", ") + "}"
    }
}

/// Rank 0's metrics output: `metrics.jsonl` in the output folder and a readable console line per record.
final class MetricsLog {
    private let handle: FileHandle
    let url: URL

    /// Opens `<outputDir>/metrics.jsonl`. When resuming after `keepThroughStep`, records of later steps
    /// (written after the checkpoint by the interrupted run) are dropped so the file reads as one run.
    init(outputDir: URL, keepThroughStep: Int?) throws {
        url = outputDir.appendingPathComponent("metrics.jsonl")
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

    private static func step(of line: Substring) -> Int? {
        guard let data = line.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return (object["step"] as? NSNumber)?.intValue
    }

    func write(_ record: MetricsRecord) throws {
        try handle.write(contentsOf: Data((record.jsonLine + "\n").utf8))
    }
}

/// A short human-readable line for the console.
func consoleLine(_ record: MetricsRecord, totalSteps: Int) -> String {
    func value(_ name: String, _ format: String) -> String {
        record[name].map { String(format: format, $0) } ?? "-"
    }
    if record["eval_loss"] != nil {
        return "eval  step \(Int(record["step"] ?? 0)) | loss \(value("eval_loss", "%.4f"))"
            + " | acc \(value("eval_rewards/accuracies", "%.3f")) | margin \(value("eval_rewards/margins", "%.4f"))"
    }
    return "step \(Int(record["step"] ?? 0))/\(totalSteps) | loss \(value("loss", "%.4f"))"
        + " | acc \(value("rewards/accuracies", "%.3f")) | margin \(value("rewards/margins", "%.4f"))"
        + " | grad_norm \(value("grad_norm", "%.3f")) | lr \(value("learning_rate", "%.2e"))"
        + " | \(value("train_tokens_per_second", "%.0f")) tok/s"
}
