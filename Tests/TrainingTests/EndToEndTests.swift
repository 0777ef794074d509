import Checkpoint
import Foundation
import Testing
import TestSupport

/// Runs the real `dpo-dist` binary: as one process and under mpirun, from scratch and resumed, on good and bad input.
@Suite(.serialized) struct EndToEndTests {
    let binary = productsDirectory.appendingPathComponent("dpo-dist")

    /// A fresh folder with a small preference file and a config for a tiny model.
    func workspace() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dpo-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let subjects = ["cats", "rivers", "stars", "trains", "maps", "bees", "clocks", "ships", "roses", "kites", "owls", "drums"]
        var lines: [String] = []
        for (index, subject) in subjects.enumerated() {
            for variant in 0..<2 {
                let prompt = variant == 0 ? "Tell me about \(subject)." : "Is it true that \(subject) are blue?"
                let object: [String: String] = [
                    "prompt": prompt,
                    "chosen": " Here is a fact about \(subject) (\(index)).",
                    "rejected": " No idea.",
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                lines.append(String(decoding: data, as: UTF8.self))
            }
        }
        try (lines.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("pairs.jsonl"), atomically: true, encoding: .utf8)
        try """
            train_dataset: \(folder.path)/pairs.jsonl
            max_length: 64
            model:
              n_layer: 2
              n_head: 2
              n_embd: 16
              n_positions: 64
            learning_rate: 1.0e-2
            lr_scheduler_type: linear
            warmup_steps: 1
            weight_decay: 0.01
            max_grad_norm: 1.0
            logging_steps: 1
            save_steps: 0
            seed: 7
            threads: 1

            """.write(to: folder.appendingPathComponent("tiny.yaml"), atomically: true, encoding: .utf8)
        return folder
    }

    func train(_ ranks: Int?, _ arguments: [String], timeout: Double = 300) -> ProcessResult {
        let fullArguments = ["train"] + arguments
        if let ranks {
            let (launcher, launcherArguments) = mpirunCommand(ranks: ranks, executable: binary, arguments: fullArguments)
            return runProcess(launcher, arguments: launcherArguments, timeout: timeout)
        }
        return runProcess(binary, arguments: fullArguments, timeout: timeout)
    }

    /// Relative differences of two weight sets, ‖a − b‖ / ‖b‖ (Euclidean): over all parameters as one vector,
    /// and the worst single tensor.
    func relativeDifferences(_ a: [String: [Float]], _ b: [String: [Float]]) throws -> (whole: Double, worstTensor: Double) {
        #expect(Set(a.keys) == Set(b.keys))
        var worstTensor = 0.0, totalDifference = 0.0, totalNorm = 0.0
        for (name, reference) in b {
            let other = try #require(a[name])
            let difference = zip(other, reference).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            let norm = reference.reduce(0.0) { $0 + Double($1) * Double($1) }
            worstTensor = max(worstTensor, (difference / max(norm, 1e-24)).squareRoot())
            totalDifference += difference
            totalNorm += norm
        }
        return ((totalDifference / totalNorm).squareRoot(), worstTensor)
    }

    /// Plain sigmoid DPO, and a weighted mix whose `sft` term averages over the chosen tokens of the whole
    /// global batch (the term most sensitive to how a batch is split).
    @Test(.enabled(if: mpirunAvailable), arguments: [[String](), ["--loss_type", "sigmoid,sft,ipo", "--loss_weights", "1,0.5,0.2"]])
    func sameGlobalBatchGivesSameRunOnOneTwoAndFourRanks(lossArguments: [String]) throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        var outputs: [URL] = []
        // Global batch 8 every time: per-device 2 × ranks × accumulation.
        for (ranks, accumulation) in [(1, 4), (2, 2), (4, 1)] {
            let output = folder.appendingPathComponent("out-\(ranks)")
            let result = train(ranks == 1 ? nil : ranks, [
                "--config", config, "--output_dir", output.path, "--max_steps", "5",
                "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "\(accumulation)"] + lossArguments)
            #expect(result.status == 0, "ranks \(ranks): \(result.stderr)")
            outputs.append(output)
        }
        let single = try RunOutput.losses(in: outputs[0])
        #expect(single.keys.sorted() == [1, 2, 3, 4, 5])
        let singleWeights = try RunOutput.tensors(in: outputs[0])
        for output in outputs.dropFirst() {
            let distributed = try RunOutput.losses(in: output)
            #expect(distributed.keys.sorted() == single.keys.sorted())
            for (step, loss) in single {
                let other = try #require(distributed[step])
                #expect(abs(other - loss) <= 1e-5 * abs(loss), "step \(step): \(other) vs \(loss)")
            }
            // Summation order differs with the rank count, so the runs agree to rounding, not bit for bit. The whole
            // parameter vector must agree to 1e-5. Single tensors get 1e-4: the attention key bias has an exactly zero
            // true gradient (softmax ignores a shift shared by all keys), so it only ever receives rounding noise,
            // which Adam normalises into real steps; it is the one tensor that lands near 2e-5.
            let (whole, worstTensor) = try relativeDifferences(try RunOutput.tensors(in: output), singleWeights)
            #expect(whole <= 1e-5, "final weights differ by \(whole) relative (\(output.lastPathComponent))")
            #expect(worstTensor <= 1e-4, "a tensor differs by \(worstTensor) relative (\(output.lastPathComponent))")
        }
        // Training moved the weights at all (the comparison above is not between untouched initial weights).
        #expect(single[5]! < single[1]!)
    }

    /// Gradients summed in buckets during the backward give exactly the run of one blocking all-reduce after it: each
    /// element is the same MPI reduction either way. The bucket here holds 26 floats, so every tensor spans many buckets
    /// and each rank starts hundreds of all-reduces during its last backward.
    @Test(.enabled(if: mpirunAvailable), arguments: [2, 4])
    func bucketedAllReduceGivesTheSameRunAsOneBlockingAllReduce(ranks: Int) throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        var runs: [(losses: [Int: Double], weights: [String: [Float]])] = []
        for bucketCap in ["0", "0.0001"] {
            let output = folder.appendingPathComponent("out-\(bucketCap)")
            let result = train(ranks, [
                "--config", config, "--output_dir", output.path, "--max_steps", "3",
                "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2", "--ddp_bucket_cap_mb", bucketCap])
            #expect(result.status == 0, "ddp_bucket_cap_mb \(bucketCap): \(result.stderr)")
            runs.append((try RunOutput.losses(in: output), try RunOutput.tensors(in: output)))
        }
        #expect(runs[0].losses.keys.sorted() == [1, 2, 3])
        #expect(runs[1].losses == runs[0].losses)
        #expect(Set(runs[1].weights.keys) == Set(runs[0].weights.keys))
        let differing = runs[0].weights.keys.filter { runs[1].weights[$0] != runs[0].weights[$0] }.sorted()
        #expect(differing.isEmpty, "tensors that differ bit for bit: \(differing)")
    }

    /// The last step of an epoch can have fewer micro-batches than ranks: here 24 pairs in global batches of 20 make
    /// a second step of one micro-batch, so three of four ranks run nothing and still take part in every all-reduce
    /// (bucketed ones included). The run must equal one process accumulating the same micro-batches.
    @Test(.enabled(if: mpirunAvailable))
    func shortStepWithIdleRanksGivesTheSameRun() throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        var runs: [(losses: [Int: Double], weights: [String: [Float]])] = []
        for (ranks, accumulation) in [(1, 4), (4, 1)] {
            let output = folder.appendingPathComponent("out-\(ranks)")
            let result = train(ranks == 1 ? nil : ranks, [
                "--config", config, "--output_dir", output.path, "--max_steps", "3", "--per_device_train_batch_size", "5",
                "--gradient_accumulation_steps", "\(accumulation)", "--ddp_bucket_cap_mb", "0.001"], timeout: 120)
            #expect(result.status == 0, "\(ranks) rank(s): \(result.stderr)")
            runs.append((try RunOutput.losses(in: output), try RunOutput.tensors(in: output)))
        }
        #expect(runs[0].losses.keys.sorted() == [1, 2, 3])
        for (step, loss) in runs[0].losses {
            #expect(abs((runs[1].losses[step] ?? .nan) - loss) <= 1e-5 * abs(loss), "step \(step)")
        }
        let (whole, _) = try relativeDifferences(runs[1].weights, runs[0].weights)
        #expect(whole <= 1e-5, "final weights differ by \(whole) relative")
    }

    @Test func resumedRunEndsWithTheSameWeights() throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        let straight = folder.appendingPathComponent("straight")
        let first = train(nil, ["--config", config, "--output_dir", straight.path, "--max_steps", "6", "--save_steps", "3"])
        #expect(first.status == 0, "\(first.stderr)")
        // A run that stopped after checkpoint-3: only that checkpoint and the metrics so far exist.
        let resumed = folder.appendingPathComponent("resumed")
        try FileManager.default.createDirectory(at: resumed, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: straight.appendingPathComponent("checkpoint-3"),
                                         to: resumed.appendingPathComponent("checkpoint-3"))
        let second = train(nil, ["--config", config, "--output_dir", resumed.path, "--max_steps", "6", "--save_steps", "3", "--resume"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("resumed from checkpoint-3"))
        #expect(try RunOutput.tensors(in: resumed) == RunOutput.tensors(in: straight))
        let straightLosses = try RunOutput.losses(in: straight)
        let resumedLosses = try RunOutput.losses(in: resumed)
        #expect(resumedLosses.keys.sorted() == [4, 5, 6])
        for step in 4...6 {
            #expect(resumedLosses[step] == straightLosses[step])
        }
        // Resuming where nothing was saved is an error that says so.
        let empty = folder.appendingPathComponent("empty")
        let missing = train(nil, ["--config", config, "--output_dir", empty.path, "--resume"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no checkpoint-<step> folder"))
        // Resuming with another global batch size would silently change the data order: refused.
        let changed = train(nil, ["--config", config, "--output_dir", resumed.path, "--max_steps", "8", "--resume",
                                  "--per_device_train_batch_size", "3"])
        #expect(changed.status != 0)
        #expect(changed.stderr.contains("global batch size"))
    }

    @Test func badInputExitsNonZeroNamingTheProblem() throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        func failure(_ fileText: String, _ fileName: String, _ extra: [String] = []) throws -> String {
            let path = folder.appendingPathComponent(fileName)
            try fileText.write(to: path, atomically: true, encoding: .utf8)
            let result = train(nil, ["--config", config, "--train_dataset", path.path,
                                     "--output_dir", folder.appendingPathComponent("o").path] + extra)
            #expect(result.status != 0)
            return result.stderr
        }
        let good = #"{"prompt": "a", "chosen": "b", "rejected": "c"}"#
        let malformed = try failure(good + "\n" + #"{"prompt": "a", "chosen": "b""# + "\n", "malformed.jsonl")
        #expect(malformed.contains("malformed.jsonl") && malformed.contains("line 2"), "\(malformed)")
        let missing = try failure(good + "\n" + #"{"prompt": "a", "chosen": "b"}"# + "\n", "missing.jsonl")
        #expect(missing.contains("missing.jsonl") && missing.contains("line 2") && missing.contains("rejected"), "\(missing)")
        let empty = try failure("", "empty.jsonl")
        #expect(empty.contains("empty.jsonl"), "\(empty)")
        let unknown = train(nil, ["--config", config, "--learning_rat", "1e-3"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("unknown key `learning_rat`"), "\(unknown.stderr)")
    }

    @Test func freshRunRefusesAnEarlierRunsCheckpointsUnlessTold() throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        let output = folder.appendingPathComponent("out")
        let first = train(nil, ["--config", config, "--output_dir", output.path, "--max_steps", "2"])
        #expect(first.status == 0, "\(first.stderr)")
        let again = train(nil, ["--config", config, "--output_dir", output.path, "--max_steps", "2"])
        #expect(again.status != 0)
        #expect(again.stderr.contains("already holds checkpoint-2") && again.stderr.contains("--resume"), "\(again.stderr)")
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("checkpoint-2").path))
        let overwrite = train(nil, ["--config", config, "--output_dir", output.path, "--max_steps", "1", "--overwrite_output_dir", "true"])
        #expect(overwrite.status == 0, "\(overwrite.stderr)")
        let left = try FileManager.default.contentsOfDirectory(atPath: output.path).filter { $0.hasPrefix("checkpoint-") }
        #expect(left == ["checkpoint-1"])
    }

    /// A final model (or metrics) without checkpoints is an earlier run too, and a folder another run holds is refused.
    @Test func earlierFinalModelAndRunningRunAreNotReplaced() throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        let output = folder.appendingPathComponent("out")
        let first = train(nil, ["--config", config, "--output_dir", output.path, "--max_steps", "1"])
        #expect(first.status == 0, "\(first.stderr)")
        try FileManager.default.removeItem(at: output.appendingPathComponent("checkpoint-1"))
        let weights = try Data(contentsOf: output.appendingPathComponent("model.safetensors"))
        let again = train(nil, ["--config", config, "--output_dir", output.path, "--max_steps", "1", "--learning_rate", "1"])
        #expect(again.status != 0)
        #expect(again.stderr.contains("already holds model.safetensors"), "\(again.stderr)")
        #expect(try Data(contentsOf: output.appendingPathComponent("model.safetensors")) == weights)

        let lock = try OutputDirectoryLock(outputDir: output)
        let busy = train(nil, ["--config", config, "--output_dir", output.path, "--resume"])
        #expect(busy.status != 0)
        #expect(busy.stderr.contains("in use by another dpo-dist run (pid \(getpid()) on host"), "\(busy.stderr)")
        withExtendedLifetime(lock) {}
    }

    /// With stdout a file (batch jobs, nohup), each log line is there as soon as it is printed, not at exit.
    @Test func consoleLogIsWrittenLineByLine() throws {
        let folder = try workspace()
        let log = folder.appendingPathComponent("console.log")
        #expect(FileManager.default.createFile(atPath: log.path, contents: nil))
        let process = Process()
        process.executableURL = binary
        process.arguments = ["train", "--config", folder.appendingPathComponent("tiny.yaml").path,
                             "--output_dir", folder.appendingPathComponent("out").path, "--max_steps", "100000"]
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = FileHandle.nullDevice
        process.environment = withoutMPILaunchVariables(ProcessInfo.processInfo.environment)
        try process.run()
        defer { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        let deadline = Date().addingTimeInterval(60)
        var text = ""
        while Date() < deadline, process.isRunning, !text.contains("step 2/") {
            Thread.sleep(forTimeInterval: 0.2)
            text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        }
        #expect(process.isRunning && text.contains("step 2/"), "\(text)")
    }

    /// The hierarchical gradient sum on one node is the node's pairwise sum ((g₀ + g₁) + (g₂ + g₃)); Open MPI's flat
    /// all-reduce of this small buffer (47 KB) pairs the ranks the same way (recursive doubling), and with 2 ranks every
    /// order is g₀ + g₁. So the runs agree bit for bit, losses included.
    @Test(.enabled(if: mpirunAvailable), arguments: [2, 4])
    func hierarchicalGradientSumGivesTheFlatRun(ranks: Int) throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        var runs: [(losses: [Int: Double], weights: [String: [Float]])] = []
        for algorithm in ["flat", "hierarchical"] {
            let output = folder.appendingPathComponent("out-\(algorithm)")
            let result = train(ranks, [
                "--config", config, "--output_dir", output.path, "--max_steps", "3", "--per_device_train_batch_size", "2",
                "--gradient_accumulation_steps", "\(4 / ranks)", "--gradient_allreduce", algorithm])
            #expect(result.status == 0, "\(algorithm): \(result.stderr)")
            #expect(result.stdout.contains("gradient sum: \(algorithm)"), "\(result.stdout)")
            runs.append((try RunOutput.losses(in: output), try RunOutput.tensors(in: output)))
        }
        #expect(runs[0].losses.keys.sorted() == [1, 2, 3])
        #expect(runs[1].losses == runs[0].losses)
        let differing = runs[0].weights.keys.filter { runs[1].weights[$0] != runs[0].weights[$0] }.sorted()
        #expect(differing.isEmpty, "tensors that differ bit for bit: \(differing)")
    }

    /// `bench --allreduce` on 3 ranks of one node (no power of two) with chunks of 4 KiB, so large messages take many
    /// chunks through both slot sets: every sum exact, and the random sums as close to the flat path's as rounding allows.
    @Test(.enabled(if: mpirunAvailable))
    func allReduceSweepIsExactOnThreeRanks() throws {
        let (launcher, arguments) = mpirunCommand(ranks: 3, executable: binary, arguments: [
            "bench", "--allreduce", "--max-bytes", "262144", "--chunk-bytes", "4096", "--json"])
        let result = runProcess(launcher, arguments: arguments, timeout: 120)
        try #require(result.status == 0, "\(result.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let rows = report?["rows"] as? [[String: Any]] ?? []
        #expect(report?["ranks"] as? Int == 3 && rows.count == 2 * 16, "\(result.stdout)")
        #expect(rows.allSatisfy { $0["wrong"] as? Int == 0 && ($0["max_relative_difference"] as? Double ?? 1) <= 1e-6 })
    }

    /// One reference per node in shared memory computes exactly what a private copy per rank does, also under TR-DPO
    /// (the node leader mixes the shared copy every step), and such a run resumes to the same end.
    @Test(.enabled(if: mpirunAvailable))
    func sharedReferenceGivesTheRunOfPrivateCopiesAndResumes() throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        let common = ["--config", config, "--max_steps", "4", "--save_steps", "2", "--per_device_train_batch_size", "2",
                      "--sync_ref_model", "true", "--ref_model_sync_steps", "1", "--ref_model_mixup_alpha", "0.5"]
        var weights: [[String: [Float]]] = []
        for share in ["false", "true"] {
            let output = folder.appendingPathComponent("share-\(share)")
            let result = train(2, common + ["--output_dir", output.path, "--share_reference", share])
            #expect(result.status == 0, "share_reference \(share): \(result.stderr)")
            #expect(result.stdout.contains("one copy per node in shared memory") == (share == "true"), "\(result.stdout)")
            weights.append(try RunOutput.tensors(in: output))
        }
        #expect(weights[1] == weights[0])
        let resumed = folder.appendingPathComponent("resumed")
        try FileManager.default.createDirectory(at: resumed, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: folder.appendingPathComponent("share-true/checkpoint-2"),
                                         to: resumed.appendingPathComponent("checkpoint-2"))
        let result = train(2, common + ["--output_dir", resumed.path, "--resume"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try RunOutput.tensors(in: resumed) == weights[1])
    }

    /// A problem only rank 0 sees (it alone creates output_dir) must end every rank, not leave rank 1 waiting.
    @Test(.enabled(if: mpirunAvailable))
    func rankZeroOnlyFailureEndsAllRanks() throws {
        let folder = try workspace()
        let blocker = folder.appendingPathComponent("not-a-folder")
        try "x".write(to: blocker, atomically: true, encoding: .utf8)
        let result = train(2, ["--config", folder.appendingPathComponent("tiny.yaml").path,
                               "--output_dir", blocker.appendingPathComponent("out").path], timeout: 120)
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot create it"), "\(result.stderr)")
    }

    @Test(.enabled(if: mpirunAvailable))
    func badInputUnderMPIFailsOnceWithoutHanging() throws {
        let folder = try workspace()
        let result = train(2, ["--config", folder.appendingPathComponent("tiny.yaml").path, "--beta", "-1"], timeout: 120)
        #expect(result.status != 0)
        let mentions = result.stderr.components(separatedBy: "`beta` must be greater than 0").count - 1
        #expect(mentions == 1, "\(result.stderr)")
    }
}
