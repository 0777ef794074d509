import Foundation
import Checkpoint
import RunReport

/// What a run writes into `output_dir` besides models and metrics, for `dpo-dist eval` and `dpo-dist report`.
extension Trainer {
    /// At the start of a run (rank 0's work): the resolved configuration as `config.yaml`, and no summary of an earlier
    /// run that this one replaces or continues.
    func startRunFiles() throws {
        try writeResolvedConfig(to: outputDir)
        let summary = outputDir.appendingPathComponent(RunSummary.fileName)
        if FileManager.default.fileExists(atPath: summary.path) {
            try FileManager.default.removeItem(at: summary)
        }
    }

    /// Writes the resolved configuration as `folder/config.yaml` (rank 0's work): the run folder's says what ran, a
    /// checkpoint's what made it.
    func writeResolvedConfig(to folder: URL) throws {
        let yaml = try ConfigLoader.resolvedYAML(of: config)
        try AtomicFile.write(Data(yaml.utf8), to: folder.appendingPathComponent(ConfigLoader.resolvedFileName))
    }

    /// The end-of-run table as `summary.json` (rank 0's work).
    func writeSummary(of report: TrainingReport) throws {
        try AtomicFile.write(Data(report.runSummary.json.utf8), to: outputDir.appendingPathComponent(RunSummary.fileName))
    }
}

extension TrainingReport {
    /// Every metric of each split before and after training, the table's first.
    var runSummary: RunSummary {
        let tableMetrics = metrics.map(\.name)
        func split(_ name: String, _ before: MetricWindow?, _ after: MetricWindow?) -> RunSummary.Split? {
            guard let before, let after, before.microBatches > 0 else { return nil }
            let names = tableMetrics + before.names.filter { !tableMetrics.contains($0) }
            return RunSummary.Split(name: name, metrics: names.compactMap { name in
                guard let old = before[name], let new = after[name] else { return nil }
                return RunSummary.Metric(name: name, before: old, after: new)
            })
        }
        return RunSummary(steps: steps, tableMetrics: tableMetrics, splits: [
            split("train", before.train, after.train), split("held-out", before.heldOut, after.heldOut),
        ].compactMap { $0 })
    }
}
