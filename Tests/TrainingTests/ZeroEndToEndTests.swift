import Checkpoint
import Foundation
import Testing
import TestSupport

/// `zero_stage` under mpirun: sharded optimizer state and gradients give the replicated run, and a checkpoint saved
/// at one rank count resumes at another.
extension EndToEndTests {
    /// The tiny model has 11728 parameters, 12 norm blocks: shards of 6 blocks on 2 ranks, 3 on 4. Without gradient
    /// accumulation every stage sums each element in one MPI reduction and everything after it is elementwise or the
    /// same block sums, so the runs agree bit for bit: on 2 ranks because a sum of two terms has one order, on 4 because
    /// Open MPI's non-blocking reduce-scatter adds in the order of its all-reduces (as the bucketed test relies on).
    /// Buckets of 26 floats straddle the shard boundaries; 0 reduce-scatters the whole buffer after the backward.
    @Test(.enabled(if: mpirunAvailable), arguments: [2, 4])
    func zeroStagesOneAndTwoGiveTheReplicatedRunBitForBit(ranks: Int) throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        var runs: [(name: String, losses: [Int: Double], weights: [String: [Float]])] = []
        for (stage, bucketCap) in [("0", "0.0001"), ("1", "0"), ("1", "0.0001"), ("2", "0"), ("2", "0.0001")] {
            let output = folder.appendingPathComponent("out-\(stage)-\(bucketCap)")
            let result = train(ranks, [
                "--config", config, "--output_dir", output.path, "--max_steps", "3",
                "--per_device_train_batch_size", "2", "--zero_stage", stage, "--ddp_bucket_cap_mb", bucketCap])
            #expect(result.status == 0, "zero_stage \(stage): \(result.stderr)")
            #expect(stage == "0" || result.stdout.contains("with zero_stage \(stage)"))
            runs.append(("zero_stage \(stage), ddp_bucket_cap_mb \(bucketCap)", try RunOutput.losses(in: output),
                         try RunOutput.tensors(in: output)))
        }
        let replicated = runs[0]
        #expect(replicated.losses.keys.sorted() == [1, 2, 3])
        for run in runs.dropFirst() {
            #expect(run.losses == replicated.losses, "\(run.name)")
            let differing = replicated.weights.keys.filter { run.weights[$0] != replicated.weights[$0] }.sorted()
            #expect(differing.isEmpty, "\(run.name): tensors that differ bit for bit: \(differing)")
        }
    }

    /// With gradient accumulation ZeRO-2 reduces every micro-batch on its own and adds the reduced sums, where stage 0
    /// adds each rank's micro-batches first and reduces once: another order of the same additions, so the runs agree to
    /// rounding. 24 pairs in micro-batches of 5 make 5 per step, 3 on rank 0 and 2 on rank 1, which joins the third
    /// reduction with zero gradients.
    @Test(.enabled(if: mpirunAvailable))
    func zeroTwoWithGradientAccumulationAgreesWithReplicatedToRounding() throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        var runs: [(losses: [Int: Double], weights: [String: [Float]])] = []
        for stage in ["0", "2"] {
            let output = folder.appendingPathComponent("out-\(stage)")
            let result = train(2, [
                "--config", config, "--output_dir", output.path, "--max_steps", "3", "--per_device_train_batch_size", "5",
                "--gradient_accumulation_steps", "3", "--zero_stage", stage, "--ddp_bucket_cap_mb", "0.001"])
            #expect(result.status == 0, "zero_stage \(stage): \(result.stderr)")
            runs.append((try RunOutput.losses(in: output), try RunOutput.tensors(in: output)))
        }
        #expect(runs[0].losses.keys.sorted() == [1, 2, 3])
        for (step, loss) in runs[0].losses {
            #expect(abs((runs[1].losses[step] ?? .nan) - loss) <= 1e-6 * abs(loss), "step \(step)")
        }
        // The whole parameter vector agrees to 1e-6 (measured: ~1e-7); single tensors are not compared, since the
        // attention key bias only receives rounding noise, which Adam turns into steps (see the 1/2/4-rank test).
        let (whole, _) = try relativeDifferences(runs[1].weights, runs[0].weights)
        #expect(whole <= 1e-6, "final weights differ by \(whole) relative")
    }

    /// A checkpoint holds the moments of every parameter in one file, whatever the rank count and stage that saved it:
    /// saved by 2 ranks at ZeRO-1, it resumes on 2 ranks bit for bit, and on 1 rank and on 4 at ZeRO-2 (same global
    /// batch) to within the rounding of another summation order.
    @Test(.enabled(if: mpirunAvailable))
    func checkpointSavedOnTwoRanksResumesOnOneTwoAndFourRanks() throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        // Global batch 8 every time: per-device 2 × ranks × accumulation.
        func run(_ ranks: Int, stage: String, into output: URL, resume: Bool) -> ProcessResult {
            train(ranks == 1 ? nil : ranks, [
                "--config", config, "--output_dir", output.path, "--max_steps", "6", "--save_steps", "3",
                "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "\(4 / ranks)",
                "--zero_stage", stage] + (resume ? ["--resume"] : []))
        }
        let straight = folder.appendingPathComponent("straight")
        let first = run(2, stage: "1", into: straight, resume: false)
        #expect(first.status == 0, "\(first.stderr)")
        let optimizerState = try SafeTensorsFile.read(contentsOf: straight.appendingPathComponent("checkpoint-3/optimizer.safetensors"))
        #expect(try optimizerState.tensor(named: "exp_avg").shape == [11728])
        #expect(try optimizerState.tensor(named: "exp_avg_sq").shape == [11728])
        let straightWeights = try RunOutput.tensors(in: straight)
        for (ranks, stage) in [(2, "1"), (1, "0"), (4, "2")] {
            let resumed = folder.appendingPathComponent("resumed-\(ranks)")
            try FileManager.default.createDirectory(at: resumed, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: straight.appendingPathComponent("checkpoint-3"),
                                             to: resumed.appendingPathComponent("checkpoint-3"))
            let second = run(ranks, stage: stage, into: resumed, resume: true)
            #expect(second.status == 0, "\(ranks) rank(s): \(second.stderr)")
            #expect(second.stdout.contains("resumed from checkpoint-3"))
            let weights = try RunOutput.tensors(in: resumed)
            if ranks == 2 {
                #expect(weights == straightWeights, "resumed on the same ranks and stage: bit for bit")
            } else {
                let (whole, _) = try relativeDifferences(weights, straightWeights)
                #expect(whole <= 1e-6, "\(ranks) rank(s): final weights differ by \(whole) relative")
            }
        }
    }
}
