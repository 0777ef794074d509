import Foundation
import Testing
import RunReport
import TensorBoardEvents
import TestSupport
@testable import Training

/// What a run writes for `eval`, `report` and TensorBoard: config.yaml, summary.json, `report_to` files.
@Suite(.serialized) struct RunFilesTests {
    let binary = productsDirectory.appendingPathComponent("dpo-dist")
    /// A short demo run of a tiny model, logging every 2 steps, evaluating and saving every 3.
    let tinyDemo = ["train", "--model.n_layer", "2", "--model.n_head", "2", "--model.n_embd", "16", "--max_steps", "6",
                    "--logging_steps", "2", "--eval_steps", "3", "--save_steps", "3", "--threads", "1"]

    private func newFolder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("dpo-runfiles-\(UUID().uuidString)")
    }

    private func train(_ output: URL, _ extra: [String] = []) -> ProcessResult {
        runProcess(binary, arguments: tinyDemo + ["--output_dir", output.path] + extra, timeout: 300)
    }

    @Test func configAndSummaryRecordTheRun() throws {
        let output = newFolder()
        let result = train(output, ["--beta", "0.2"])
        #expect(result.status == 0, "\(result.stderr)")
        let saved = try ConfigLoader.load(file: output.appendingPathComponent("config.yaml").path, overrides: [])
        let given = try ConfigLoader.load(file: nil, overrides: Array(tinyDemo.dropFirst()) + ["--output_dir", output.path,
                                                                                             "--beta", "0.2"])
        #expect(saved == given)
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("checkpoint-3/config.yaml").path))
        // The held-out "after" column is the final evaluation of the same weights.
        let summary = try RunSummary.read(from: output.appendingPathComponent("summary.json"))
        #expect(summary.steps == 6 && summary.splits.map(\.name) == ["train", "held-out"])
        #expect(summary.tableMetrics == ["prefers_chosen", "rewards/accuracies", "rewards/margins", "loss"])
        let finalEvaluation = try #require(try RunOutput.allRecords(in: output).last { $0["eval_loss"] != nil })
        for metric in summary.splits[1].metrics {
            #expect(metric.after == finalEvaluation["eval_" + metric.name], "\(metric.name)")
        }
        #expect(summary.splits[0].metrics.first { $0.name == "rewards/margins" }?.before == 0)
        #expect(result.stdout.contains(String(format: "%9.4f", summary.splits[1].metrics[2].after ?? .nan)))
    }

    /// TensorBoard's files hold every logged number under transformers' tags; metrics.csv one column per metric.
    @Test func reportToWritesTensorBoardEventsAndCSV() throws {
        let output = newFolder()
        let result = train(output, ["--report_to", "tensorboard,csv"])
        #expect(result.status == 0, "\(result.stderr)")
        let records = try RunOutput.allRecords(in: output)
        let folders = try FileManager.default.contentsOfDirectory(at: output.appendingPathComponent("runs"),
                                                                  includingPropertiesForKeys: nil)
        #expect(folders.count == 1 && folders[0].lastPathComponent.hasSuffix("_" + EventFileWriter.hostName))
        let files = try FileManager.default.contentsOfDirectory(at: folders[0], includingPropertiesForKeys: nil)
        #expect(files.count == 1 && files[0].lastPathComponent.hasPrefix("events.out.tfevents."))
        let events = try readTensorBoardEvents(files[0])
        #expect(events[0].fileVersion == "brain.Event:2" && events[1].sessionStatus == 1 && events[1].step == 1)
        let logged = Array(events.dropFirst(2))
        #expect(logged.count == records.count)
        for (event, record) in zip(logged, records) {
            #expect(event.step == Int64(record["step"] ?? -1) && event.wallTime == record["time"])
            let expected = record.filter { !["step", "time"].contains($0.key) }
            #expect(event.scalars.count == expected.count)
            for scalar in event.scalars {
                let name = scalar.tag.hasPrefix("eval/") ? "eval_" + scalar.tag.dropFirst(5) : String(scalar.tag.dropFirst(6))
                #expect(scalar.tag.hasPrefix("eval/") || scalar.tag.hasPrefix("train/"))
                #expect(scalar.value == Float(expected[name] ?? .nan), "\(scalar.tag) at step \(event.step ?? -1)")
            }
        }
        let table = try csv(output)
        #expect(table.header.first == "step" && table.header.contains("eval_rewards/margins") && table.header.contains("grad_norm"))
        #expect(Set(table.header) == Set(records.flatMap(\.keys)))
        #expect(table.rows.count == records.count)
        for (row, record) in zip(table.rows, records) {
            for (name, cell) in zip(table.header, row) {
                #expect(cell.isEmpty ? record[name] == nil : Double(cell) == record[name], "\(name): \(cell)")
            }
        }

        // Resumed from checkpoint-3 after a crash: a second event file restarts the session at step 4 (TensorBoard drops
        // what the first wrote from there on), and metrics.csv keeps only the rows through step 3 before going on.
        for name in ["checkpoint-6", "model.safetensors", "config.json", "summary.json"] {
            try FileManager.default.removeItem(at: output.appendingPathComponent(name))
        }
        let resumed = runProcess(binary, arguments: tinyDemo + ["--output_dir", output.path, "--report_to", "csv,tensorboard",
                                                                "--resume"], timeout: 300)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let afterResume = try FileManager.default.contentsOfDirectory(at: folders[0], includingPropertiesForKeys: nil)
            .filter { $0 != files[0] }
        #expect(afterResume.count == 1)
        let second = try readTensorBoardEvents(try #require(afterResume.first))
        #expect(second[1].sessionStatus == 1 && second[1].step == 4)
        #expect(second.dropFirst(2).compactMap(\.step) == [4, 6, 6])
        #expect(try csv(output).rows.compactMap { Int($0[0]) } == [2, 3, 4, 6, 6])
    }

    /// `dpo-dist report` on two real runs: the page lands in the first run folder (or at --output) with a chart per
    /// metric and both runs in each.
    @Test func reportCommandWritesOnePageForSeveralRuns() throws {
        let first = newFolder(), second = newFolder()
        #expect(train(first).status == 0)
        #expect(train(second, ["--learning_rate", "3e-3"]).status == 0)
        let result = runProcess(binary, arguments: ["report", first.path, second.path], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let html = try String(contentsOf: first.appendingPathComponent("report.html"), encoding: .utf8)
        for metric in ["loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
                       "logps/rejected", "grad_norm", "learning_rate", "prefers_chosen"] {
            #expect(html.contains("<figure data-metric=\"\(metric)\">"), "\(metric)")
        }
        #expect(html.contains("data-series=\"\(second.path) eval\"") && html.contains("<td>learning_rate</td><td>0.001</td><td>0.003</td>"))
        #expect(result.stdout.contains("wrote \(first.path)/report.html"))
        let elsewhere = newFolder().appendingPathExtension("html")
        #expect(runProcess(binary, arguments: ["report", first.path, "--output", elsewhere.path], timeout: 120).status == 0)
        #expect(FileManager.default.fileExists(atPath: elsewhere.path))
        let missing = runProcess(binary, arguments: ["report", first.path + "-nothing"], timeout: 120)
        #expect(missing.status == 1 && missing.stderr.contains("-nothing: no such folder"), "\(missing.stderr)")
    }

    @Test func reportToRefusesIntegrationsItDoesNotHave() throws {
        let wandb = try #require(configError(["--report_to", "tensorboard,wandb"]))
        #expect(wandb.contains("`report_to` \"wandb\" is not supported") && wandb.contains("wandb sync --sync-tensorboard"))
        #expect(configError(["--report_to", "tensorbored"])?.contains("must be none, all, or a list of tensorboard, csv") == true)
        #expect(try ConfigLoader.load(file: nil, overrides: ["--report_to", "none"]).reportTo.isEmpty)
        #expect(try ConfigLoader.load(file: nil, overrides: ["--report_to", "all"]).reportTo == [.tensorboard, .csv])
    }

    private func configError(_ overrides: [String]) -> String? {
        do {
            _ = try ConfigLoader.load(file: nil, overrides: overrides)
            return nil
        } catch {
            return "\(error)"
        }
    }

    private func csv(_ output: URL) throws -> (header: [String], rows: [[String]]) {
        let lines = try String(contentsOf: output.appendingPathComponent("metrics.csv"), encoding: .utf8)
            .split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(lines.allSatisfy { $0.count == lines[0].count })
        return (lines[0], Array(lines.dropFirst()))
    }
}
