import Foundation
import JSON
import Testing
import TestSupport

/// `dpo-dist eval` through the real binary: its metrics are the trainer's own evaluation of the same weights.
@Suite(.serialized) struct EvalCommandTests {
    let binary = productsDirectory.appendingPathComponent("dpo-dist")

    /// `dpo-dist <arguments>` as one process, or as `ranks` MPI ranks.
    private func dpoDist(_ arguments: [String], ranks: Int? = nil) -> ProcessResult {
        guard let ranks else { return runProcess(binary, arguments: arguments, timeout: 300) }
        let (launcher, launcherArguments) = mpirunCommand(ranks: ranks, executable: binary, arguments: arguments)
        return runProcess(launcher, arguments: launcherArguments, timeout: 300)
    }

    /// A short demo run of a tiny model, with a checkpoint and a held-out evaluation every 2 steps.
    private func trainedRun(ranks: Int? = nil) throws -> URL {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("dpo-eval-\(UUID().uuidString)")
        let result = dpoDist(["train", "--output_dir", output.path, "--model.n_layer", "2", "--model.n_head", "2",
                              "--model.n_embd", "16", "--max_steps", "4", "--save_steps", "2", "--eval_steps", "2",
                              "--logging_steps", "2", "--save_total_limit", "5", "--threads", "1"], ranks: ranks)
        #expect(result.status == 0, "\(result.stderr)")
        return output
    }

    @Test func metricsEqualTheTrainingTimeEvaluationOfTheSameWeights() throws {
        let run = try trainedRun()
        let logged = try RunOutput.loggedEvaluations(in: run)
        #expect(logged.keys.sorted() == [2, 4])
        // The reference and the settings come from the run's config.yaml; the run folder stands for its checkpoints
        // and its final model.
        let evaluated = try RunOutput.evaluationRows(dpoDist(["eval", "--model_name_or_path", run.path, "--json"]))
        #expect(evaluated.map(\.model) == [run.path + "/checkpoint-2", run.path + "/checkpoint-4", run.path])
        for (row, step) in zip(evaluated, [2, 4, 4]) {
            try RunOutput.expectSameEvaluation(row.metrics, logged[step], row.model)
        }
        // A checkpoint alone finds its run's settings in its own config.yaml; the table has one row per model.
        let table = dpoDist(["eval", "--model_name_or_path", run.path + "/checkpoint-2", run.path + "/checkpoint-4"])
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("model ") && $0.contains("eval_rewards/margins") && $0.contains("eval_prefers_chosen") })
        #expect(lines.filter { $0.hasPrefix(run.path + "/checkpoint-") }.count == 2, "\(table.stdout)")
    }

    /// Under mpirun the pairs are dealt as training deals them: two ranks reproduce a two-rank run's evaluation exactly.
    @Test(.enabled(if: mpirunAvailable)) func underMPIMetricsEqualTheTwoRankRunsEvaluation() throws {
        let run = try trainedRun(ranks: 2)
        let logged = try RunOutput.loggedEvaluations(in: run)
        let evaluated = try RunOutput.evaluationRows(dpoDist(["eval", "--model_name_or_path", run.path, "--json"], ranks: 2))
        #expect(evaluated.count == 3)
        for (row, step) in zip(evaluated, [2, 4, 4]) {
            try RunOutput.expectSameEvaluation(row.metrics, logged[step], row.model)
        }
    }

    @Test func aModelAgainstItselfHasNoRewardAndKeysOverrideTheConfig() throws {
        let run = try trainedRun()
        let checkpoint = run.path + "/checkpoint-2"
        let against = try RunOutput.evaluationRows(dpoDist(["eval", "--model_name_or_path", checkpoint, "--ref_model", checkpoint,
                                        "--json", "--beta", "0.3"]))
        let metrics = try #require(against.first?.metrics)
        #expect(metrics["eval_rewards/margins"] == 0 && metrics["eval_rewards/accuracies"] == 0)
        #expect(abs((metrics["eval_loss"] ?? 0) - log(2)) < 1e-12)
        // β scales the rewards of the run's own reference.
        let base = try RunOutput.evaluationRows(dpoDist(["eval", "--model_name_or_path", checkpoint, "--json"]))[0].metrics
        let scaled = try RunOutput.evaluationRows(dpoDist(["eval", "--model_name_or_path", checkpoint, "--json", "--beta", "0.3"]))[0].metrics
        let ratio = (scaled["eval_rewards/margins"] ?? 0) / (base["eval_rewards/margins"] ?? 1)
        #expect(abs(ratio - 3) < 1e-9, "\(ratio)")
    }

    @Test func badInputNamesTheProblem() throws {
        let run = try trainedRun()
        let missing = dpoDist(["eval", "--model_name_or_path", run.path + "/nothing"])
        #expect(missing.status == 1 && missing.stderr.contains("nothing: no such folder"), "\(missing.stderr)")
        // A model folder without a recorded run: the reference has to be named.
        let bare = run.appendingPathComponent("bare")
        try FileManager.default.createDirectory(at: bare, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(at: run.appendingPathComponent(file), to: bare.appendingPathComponent(file))
        }
        let noReference = dpoDist(["eval", "--model_name_or_path", bare.path, "--eval_dataset", "demo"])
        #expect(noReference.status == 1 && noReference.stderr.contains("pass --ref_model DIR"), "\(noReference.stderr)")
        let noData = dpoDist(["eval", "--model_name_or_path", run.path, "--eval_dataset", "none"])
        #expect(noData.status == 1 && noData.stderr.contains("`eval_dataset` is not set"), "\(noData.stderr)")
        let badKey = dpoDist(["eval", "--model_name_or_path", run.path, "--betaa", "1"])
        #expect(badKey.status == 1 && badKey.stderr.contains("unknown key `betaa`"), "\(badKey.stderr)")
        let wrongShape = dpoDist(["eval", "--model_name_or_path", run.path, "--model.n_embd", "32"])
        #expect(wrongShape.status == 1 && wrongShape.stderr.contains("differs from the reference"), "\(wrongShape.stderr)")
    }
}
