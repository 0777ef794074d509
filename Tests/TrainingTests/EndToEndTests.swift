import Checkpoint
import Kernels
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

    /// `bf16: true` runs every matmul on bf16-rounded inputs: the losses follow the fp32 run's closely but not exactly
    /// (so the bf16 kernel is in use); on a CPU without AVX512-BF16 the run says it falls back and equals fp32.
    @Test func bf16TracksTheFP32Run() throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        var losses: [[Double]] = []
        for bf16 in ["false", "true"] {
            let output = folder.appendingPathComponent("bf16-\(bf16)")
            let run = train(nil, ["--config", config, "--output_dir", output.path, "--max_steps", "6", "--bf16", bf16])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.contains("bf16: true") == (bf16 == "true"), "\(run.stdout)")
            losses.append(try RunOutput.lossSequence(in: output))
        }
        let (fp32, bf16) = (losses[0], losses[1])
        #expect(fp32.count == 6 && bf16.count == 6)
        for (step, (full, mixed)) in zip(fp32, bf16).enumerated() {
            #expect(abs(mixed - full) <= 2e-2 * abs(full), "step \(step + 1): bf16 loss \(mixed), fp32 \(full)")
        }
        #expect((fp32 != bf16) == MatmulPrecision.bf16Available, "fp32 \(fp32), bf16 \(bf16)")
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

    /// Starts `dpo-dist train` (under mpirun when `ranks` is given) with stdout in `log`, for tests that signal it.
    private func startTraining(_ ranks: Int?, _ arguments: [String], log: URL) throws -> Process {
        #expect(FileManager.default.createFile(atPath: log.path, contents: nil))
        let process = Process()
        if let ranks {
            let (launcher, launcherArguments) = mpirunCommand(ranks: ranks, executable: binary, arguments: ["train"] + arguments)
            process.executableURL = launcher
            process.arguments = launcherArguments
        } else {
            process.executableURL = binary
            process.arguments = ["train"] + arguments
        }
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = process.standardOutput
        process.environment = withoutMPILaunchVariables(ProcessInfo.processInfo.environment)
        try process.run()
        return process
    }

    /// Waits up to `seconds` for `text` in `log`; false if the process ended or time ran out first.
    private func wait(for text: String, in log: URL, of process: Process, seconds: Double = 120) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, process.isRunning {
            if ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains(text) { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    /// Waits for `process` to exit, killing it after `seconds`; its exit status, or nil if it had to be killed.
    private func exitStatus(of process: Process, within seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        guard !process.isRunning else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    /// The dpo-dist processes mpirun started (its children).
    private func ranks(of launcher: Process) -> [pid_t] {
        let children = (try? String(contentsOfFile: "/proc/\(launcher.processIdentifier)/task/\(launcher.processIdentifier)/children",
                                    encoding: .utf8)) ?? ""
        return children.split(separator: " ").compactMap { pid_t($0) }
    }

    /// SIGTERM mid-run (to the process, or to one rank of three): every rank stops at the next step boundary with a
    /// checkpoint and exits 0, and `--resume` ends with exactly the weights of an uninterrupted run.
    @Test(arguments: [nil, 3] as [Int?])
    func stopSignalCheckpointsAndResumeEqualsUninterruptedRun(ranks: Int?) throws {
        if ranks != nil && !mpirunAvailable { return }
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        let steps = ["--max_steps", "300"]
        let straight = folder.appendingPathComponent("straight")
        let reference = train(ranks, ["--config", config, "--output_dir", straight.path] + steps)
        #expect(reference.status == 0, "\(reference.stderr)")

        let stopped = folder.appendingPathComponent("stopped")
        let log = folder.appendingPathComponent("stopped.log")
        let process = try startTraining(ranks, ["--config", config, "--output_dir", stopped.path] + steps, log: log)
        #expect(wait(for: "step 3/300", in: log, of: process))
        let target = ranks == nil ? process.processIdentifier : try #require(self.ranks(of: process).last)
        let signalled = Date()
        kill(target, SIGTERM)
        #expect(exitStatus(of: process, within: 30) == 0)
        #expect(Date().timeIntervalSince(signalled) < 30)
        let output = try String(contentsOf: log, encoding: .utf8)
        let stopLine = try #require(output.split(separator: "\n").first { $0.hasPrefix("stopped by SIGTERM after step ") },
                                    "\(output)")
        #expect(stopLine.hasSuffix("continue with the same command and --resume"))
        #expect(output.components(separatedBy: "stopped by SIGTERM").count - 1 == 1, "\(output)")
        #expect(!FileManager.default.fileExists(atPath: stopped.appendingPathComponent("model.safetensors").path))

        let resumed = train(ranks, ["--config", config, "--output_dir", stopped.path, "--resume"] + steps)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try RunOutput.tensors(in: stopped) == RunOutput.tensors(in: straight))
        #expect(try RunOutput.losses(in: stopped) == RunOutput.losses(in: straight))
    }

    /// Weights an update makes infinite stop the run before anything is saved; `nonfinite_policy: skip` skips the
    /// updates of non-finite gradients instead, counts them and ends with finite weights.
    @Test func nonFiniteValuesAreNeverSaved() throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        let infinite = folder.appendingPathComponent("infinite")
        let exploded = train(nil, ["--config", config, "--output_dir", infinite.path, "--max_steps", "4", "--save_steps", "1",
                                   "--learning_rate", "1e38", "--weight_decay", "10"])
        #expect(exploded.status == 1)
        #expect(exploded.stderr.contains("step 2: the update made weights non-finite"), "\(exploded.stderr)")
        let saved = try FileManager.default.contentsOfDirectory(atPath: infinite.path).filter { $0.hasPrefix("checkpoint-") }
        #expect(saved == ["checkpoint-1"])
        #expect(try RunOutput.tensors(in: infinite.appendingPathComponent("checkpoint-1")).values.allSatisfy {
            $0.allSatisfy(\.isFinite)
        })

        let skipping = folder.appendingPathComponent("skipping")
        let skipped = train(nil, ["--config", config, "--output_dir", skipping.path, "--max_steps", "5",
                                  "--learning_rate", "1e20", "--nonfinite_policy", "skip"])
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect(skipped.stdout.contains("step 3: update skipped (nonfinite_policy: skip, 1 so far)"), "\(skipped.stdout)")
        let log = try String(contentsOf: skipping.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(log.split(separator: "\n").last?.contains(#""step": 5, "skipped_steps": 3.0"#) == true, "\(log)")
        #expect(try RunOutput.tensors(in: skipping).values.allSatisfy { $0.allSatisfy(\.isFinite) })
    }

    /// Two ranks launched as two mpirun app contexts (`-n 1 … : -n 1 …`), each in its own working directory with its
    /// own arguments: how a test gives ranks different inputs.
    private func trainTwoRanks(_ first: (folder: URL, arguments: [String]),
                               _ second: (folder: URL, arguments: [String])) -> ProcessResult {
        let (launcher, prefix) = mpirunCommand(ranks: 1, executable: binary, arguments: [])
        let options = Array(prefix.prefix { $0 != "-n" })
        let context = { (app: (folder: URL, arguments: [String])) in
            ["-n", "1", "-wdir", app.folder.path, self.binary.path, "train"] + app.arguments
        }
        return runProcess(launcher, arguments: options + context(first) + [":"] + context(second), timeout: 60)
    }

    /// An input error seen by rank 1 alone (its node lacks the data file) ends the whole job quickly with that rank's
    /// message; ranks given different settings or data are refused, naming what differs.
    @Test(.enabled(if: mpirunAvailable))
    func oneRanksInputErrorAndDisagreeingRanksEndTheJob() throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        let (withData, withoutData) = (folder.appendingPathComponent("a"), folder.appendingPathComponent("b"))
        for place in [withData, withoutData] {
            try FileManager.default.createDirectory(at: place, withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(at: folder.appendingPathComponent("pairs.jsonl"),
                                         to: withData.appendingPathComponent("pairs.jsonl"))
        let common = ["--config", config, "--train_dataset", "pairs.jsonl", "--max_steps", "2",
                      "--output_dir", folder.appendingPathComponent("out").path]
        let started = Date()
        let missing = trainTwoRanks((withData, common), (withoutData, common))
        #expect(missing.status == 1 && Date().timeIntervalSince(started) < 30, "\(missing.stderr)")
        #expect(missing.stderr.contains("rank 1 of 2: ") && missing.stderr.contains("pairs.jsonl"), "\(missing.stderr)")
        #expect(missing.stderr.components(separatedBy: "error").count - 1 == 1, "\(missing.stderr)")

        let settings = trainTwoRanks((withData, common + ["--beta", "0.1"]), (withData, common + ["--beta", "0.2"]))
        #expect(settings.status == 1)
        #expect(settings.stderr.contains("the ranks disagree: the resolved config of rank(s) 1 differs from rank 0's"),
                "\(settings.stderr)")

        let other = String(try String(contentsOf: withData.appendingPathComponent("pairs.jsonl"), encoding: .utf8)
            .split(separator: "\n").reversed().joined(separator: "\n")) + "\n"
        try other.write(to: withoutData.appendingPathComponent("pairs.jsonl"), atomically: true, encoding: .utf8)
        let data = trainTwoRanks((withData, common), (withoutData, common))
        #expect(data.status == 1)
        #expect(data.stderr.contains("the data (every token id) of rank(s) 1 differs from rank 0's"), "\(data.stderr)")
    }

    /// A rank that hangs (stopped with SIGSTOP) ends the job once another rank has waited `ddp_timeout` in a step,
    /// with a message naming that rank, the step and the phase.
    @Test(.enabled(if: mpirunAvailable))
    func hungRankEndsTheJobAfterDDPTimeout() throws {
        let folder = try workspace()
        let log = folder.appendingPathComponent("hung.log")
        let process = try startTraining(2, ["--config", folder.appendingPathComponent("tiny.yaml").path, "--output_dir",
                                            folder.appendingPathComponent("out").path, "--max_steps", "100000",
                                            "--ddp_timeout", "3"], log: log)
        #expect(wait(for: "step 3/100000", in: log, of: process))
        let hung = try #require(ranks(of: process).last)
        kill(hung, SIGSTOP)
        let stopped = Date()
        #expect(exitStatus(of: process, within: 30) ?? 0 != 0)
        #expect(Date().timeIntervalSince(stopped) < 30)
        let output = try String(contentsOf: log, encoding: .utf8)
        #expect(output.contains("has not finished after") && output.contains("(ddp_timeout 3.0 s)"), "\(output)")
        #expect(output.contains(": forward, backward and gradient sum") || output.contains(": agreeing whether to stop")
                || output.contains(": summing the logged metrics"), "\(output)")
        kill(hung, SIGKILL)
    }

    /// Resuming with other data content is refused; a changed `beta` is allowed, said and recorded.
    @Test func resumeRefusesChangedDataAndRecordsChangedSettings() throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        let output = folder.appendingPathComponent("out").path
        let first = train(nil, ["--config", config, "--output_dir", output, "--max_steps", "2"])
        #expect(first.status == 0, "\(first.stderr)")
        let data = folder.appendingPathComponent("pairs.jsonl")
        let original = try String(contentsOf: data, encoding: .utf8)
        try original.replacingOccurrences(of: "No idea.", with: "No clue.").write(to: data, atomically: true, encoding: .utf8)
        let changedData = train(nil, ["--config", config, "--output_dir", output, "--max_steps", "4", "--resume"])
        #expect(changedData.status == 1)
        #expect(changedData.stderr.contains("cannot resume checkpoint-2: this run changed the data"), "\(changedData.stderr)")
        try original.write(to: data, atomically: true, encoding: .utf8)

        let changedBeta = train(nil, ["--config", config, "--output_dir", output, "--max_steps", "4", "--resume",
                                      "--beta", "0.2"])
        #expect(changedBeta.status == 0, "\(changedBeta.stderr)")
        #expect(changedBeta.stdout.contains("resuming with a changed setting, recorded in trainer_state.json: at step 2: `beta` 0.1 → 0.2"),
                "\(changedBeta.stdout)")
        let state = try String(contentsOf: URL(fileURLWithPath: output).appendingPathComponent("checkpoint-4/trainer_state.json"),
                               encoding: .utf8)
        #expect(state.contains("at step 2: `beta` 0.1 → 0.2"), "\(state)")
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

    /// A resume mismatch is a typed run error every rank raises alike: printed once, every rank exits 1 on its own.
    @Test(.enabled(if: mpirunAvailable))
    func resumeMismatchUnderMPIIsReportedOnce() throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("tiny.yaml").path
        let output = folder.appendingPathComponent("out").path
        let first = train(2, ["--config", config, "--output_dir", output, "--max_steps", "2"], timeout: 120)
        #expect(first.status == 0, "\(first.stderr)")
        let changed = train(2, ["--config", config, "--output_dir", output, "--max_steps", "4", "--resume", "--seed", "8"],
                            timeout: 120)
        #expect(changed.status == 1, "\(changed.stderr)")
        // The built-in model is drawn from the seed, so its starting weights change with it too.
        let mentions = changed.stderr.components(separatedBy: "cannot resume checkpoint-2: this run changed the starting weights").count - 1
        #expect(mentions == 1 && changed.stderr.contains("`seed` (7 → 8)"), "\(changed.stderr)")
        #expect(!changed.stderr.contains("MPI_ABORT"), "\(changed.stderr)")
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
