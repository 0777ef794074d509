import Foundation
import TensorBoardEvents

/// A `report_to` destination: receives every metrics record that goes to metrics.jsonl (rank 0 only).
protocol MetricsReporter: AnyObject {
    func write(_ record: MetricsRecord) throws
}

extension TrainingConfig.ReportDestination {
    /// This destination's writer in `outputDir`; when resuming after `step`, it continues what the run wrote up to
    /// that step.
    func reporter(outputDir: URL, resumingAfter step: Int?) throws -> any MetricsReporter {
        switch self {
        case .tensorboard: try TensorBoardReporter(outputDir: outputDir, resumingAfter: step)
        case .csv: try CSVReporter(outputDir: outputDir, keepThroughStep: step)
        }
    }
}

/// `report_to: tensorboard`: an event file in `output_dir/runs/<Mon DD_HH-MM-SS>_<host>/`, the folder transformers'
/// TensorBoardCallback uses, with its tags (`rewrite_logs`: `eval_loss` → `eval/loss`, `loss` → `train/loss`). A resumed
/// run writes a new file into the newest such folder, starting its session at the step after the checkpoint, so
/// TensorBoard shows one run without the steps the interrupted run logged after that checkpoint.
final class TensorBoardReporter: MetricsReporter {
    static let folderName = "runs"
    let writer: EventFileWriter

    init(outputDir: URL, resumingAfter step: Int?) throws {
        let runs = outputDir.appendingPathComponent(Self.folderName)
        let earlier = step == nil ? nil : Self.newestLogFolder(in: runs)
        writer = try EventFileWriter(folder: earlier ?? runs.appendingPathComponent(Self.newFolderName()),
                                     startStep: (step ?? 0) + 1)
    }

    /// transformers' `default_logdir`: the local time as `%b%d_%H-%M-%S`, then the host name.
    static func newFolderName(at date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "MMMdd_HH-mm-ss"
        return formatter.string(from: date) + "_" + EventFileWriter.hostName
    }

    /// The most recently modified folder in `runs` that holds an event file.
    private static func newestLogFolder(in runs: URL) -> URL? {
        let folders = (try? FileManager.default.contentsOfDirectory(at: runs, includingPropertiesForKeys: [.contentModificationDateKey])) ?? []
        return folders.filter { folder in
            ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).contains { $0.hasPrefix("events.out.tfevents.") }
        }.max { modified($0) < modified($1) }
    }

    private static func modified(_ url: URL) -> Date {
        (try? url.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
    }

    /// TensorBoard's tag of a metric.
    static func tag(_ name: String) -> String {
        name.hasPrefix("eval_") ? "eval/" + name.dropFirst("eval_".count) : "train/" + name
    }

    func write(_ record: MetricsRecord) throws {
        let scalars = record.fields.filter { !["step", "time"].contains($0.name) }.map { (Self.tag($0.name), $0.value) }
        try writer.write(scalars: scalars, step: Int(record["step"] ?? 0),
                         wallTime: record["time"].map(Date.init(timeIntervalSince1970:)) ?? Date())
    }
}

/// `report_to: csv`: `output_dir/metrics.csv`, one row per record and one column per metric name seen, in the order
/// first seen (`step` first); a cell is empty where its record has no such metric. A record with a new name (the first
/// evaluation's) rewrites the file with the wider header. Metric names hold no commas or quotes, so nothing is quoted.
final class CSVReporter: MetricsReporter {
    static let fileName = "metrics.csv"
    let url: URL
    private var columns: [String] = []
    private var handle: FileHandle

    /// Opens `metrics.csv` afresh, or when resuming keeps the rows through `keepThroughStep` (as metrics.jsonl does).
    init(outputDir: URL, keepThroughStep: Int?) throws {
        url = outputDir.appendingPathComponent(Self.fileName)
        var rows: [[String]] = []
        if let keepThroughStep, let existing = try? String(contentsOf: url, encoding: .utf8) {
            let lines = existing.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            columns = lines.first ?? []
            let stepColumn = columns.firstIndex(of: "step")
            rows = lines.dropFirst().filter { row in
                stepColumn.flatMap { $0 < row.count ? Double(row[$0]) : nil }.map { $0 <= Double(keepThroughStep) } ?? false
            }
        }
        try Self.text(columns: columns, rows: rows).write(to: url, atomically: true, encoding: .utf8)
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    deinit {
        try? handle.close()
    }

    func write(_ record: MetricsRecord) throws {
        let newNames = record.fields.map(\.name).filter { !columns.contains($0) }
        guard newNames.isEmpty else {
            try widen(by: newNames)
            return try write(record)
        }
        let values = Dictionary(record.fields.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        let row = columns.map { values[$0].map(Self.cell) ?? "" }
        try handle.write(contentsOf: Data((row.joined(separator: ",") + "\n").utf8))
    }

    /// Rewrites the file with `names` as new last columns, the rows so far empty in them.
    private func widen(by names: [String]) throws {
        try handle.close()
        let rows = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").dropFirst().map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) + names.map { _ in "" }
        }
        columns += names
        try Self.text(columns: columns, rows: rows).write(to: url, atomically: true, encoding: .utf8)
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    private static func text(columns: [String], rows: [[String]]) -> String {
        guard !columns.isEmpty else { return "" }
        return ([columns] + rows).map { $0.joined(separator: ",") + "\n" }.joined()
    }

    /// Whole numbers without a decimal point, others with every digit (Swift's shortest round-trip form).
    private static func cell(_ value: Double) -> String {
        if let whole = Int(exactly: value) { return String(whole) }
        return "\(value)"
    }
}
