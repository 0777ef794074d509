import Foundation
import Checkpoint
import Distributed
import Model

/// What a checkpoint records besides tensors: where the run is and what it must agree with to resume.
struct TrainerState: Codable, Equatable {
    var format = "dpo-dist-checkpoint-1"
    var globalStep: Int
    var epoch: Double
    var totalSteps: Int
    var globalBatchSize: Int
    var pairCount: Int
    var seed: Int
    var worldSize: Int
    var tokensSeen: Double
    var model: ModelConfig

    enum CodingKeys: String, CodingKey {
        case format, epoch, seed, model
        case globalStep = "global_step", totalSteps = "total_steps", globalBatchSize = "global_batch_size"
        case pairCount = "pair_count", worldSize = "world_size", tokensSeen = "num_tokens"
    }

    /// Resuming is only exact when the data order and the model are the same; name what differs.
    func checkResumable(against current: TrainerState) throws {
        var problems: [String] = []
        if model != current.model { problems.append("the model shape") }
        if seed != current.seed { problems.append("`seed` (\(seed) → \(current.seed))") }
        if globalBatchSize != current.globalBatchSize {
            problems.append("the global batch size (\(globalBatchSize) → \(current.globalBatchSize); it is "
                + "per_device_train_batch_size × ranks × gradient_accumulation_steps)")
        }
        if pairCount != current.pairCount { problems.append("the number of training pairs (\(pairCount) → \(current.pairCount))") }
        if !problems.isEmpty {
            throw RunError.resumeMismatch(step: globalStep, changes: problems)
        }
    }
}

extension Trainer {
    static let optimizerFile = "optimizer.safetensors"
    static let stateFile = "trainer_state.json"

    func currentState() -> TrainerState {
        TrainerState(globalStep: completedSteps, epoch: Double(completedSteps) / Double(plan.stepsPerEpoch),
                     totalSteps: plan.totalSteps, globalBatchSize: plan.globalBatchSize, pairCount: task.trainCount,
                     seed: config.seed, worldSize: communicator.size, tokensSeen: tokensSeen, model: policy.config)
    }

    /// Rank 0 writes `checkpoint-<step>` atomically: the policy as a Hugging Face folder (so any checkpoint loads
    /// with `from_pretrained`; with LoRA a PEFT adapter folder for `PeftModel.from_pretrained`), the optimizer moments, the task's own buffers (a TR-DPO reference that has drifted
    /// from the initial weights) and the trainer state.
    func saveCheckpoint() throws {
        guard communicator.rank == 0 else { return }
        let directory = CheckpointDirectory(outputDir: outputDir)
        let state = currentState()
        let saved = try directory.save(step: completedSteps) { folder in
            try source.writeFolder(of: policy, to: folder)
            try SafeTensorsFile.write([
                ("exp_avg", [optimizer.firstMoment.count], UnsafeBufferPointer(optimizer.firstMoment)),
                ("exp_avg_sq", [optimizer.secondMoment.count], UnsafeBufferPointer(optimizer.secondMoment)),
            ], metadata: ["format": "dpo-dist", "optimizer": "adamw"], to: folder.appendingPathComponent(Self.optimizerFile))
            for (file, buffer) in task.checkpointBuffers {
                try SafeTensorsFile.write([("parameters", [buffer.count], UnsafeBufferPointer(buffer))],
                                          metadata: ["format": "dpo-dist"], to: folder.appendingPathComponent(file))
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try encoder.encode(state), to: folder.appendingPathComponent(Self.stateFile))
        }
        if let limit = config.saveTotalLimit {
            try directory.prune(keepLast: limit)
        }
        say("saved \(saved.path)")
    }

    /// Rank 0 reads the latest checkpoint and broadcasts it; every rank returns its step.
    func restoreLatestCheckpoint() throws -> Int {
        var position = (step: 0, tokensSeen: 0.0)
        try communicator.runOnRankZero {
            let state = try readLatestCheckpoint()
            position = (state.globalStep, state.tokensSeen)
        }
        try withUnsafeMutableBytes(of: &position) { try communicator.broadcast($0, root: 0) }
        tokensSeen = position.tokensSeen
        for buffer in [trainingStep.trainable.parameters, optimizer.firstMoment, optimizer.secondMoment]
            + task.checkpointBuffers.map(\.buffer) {
            try communicator.broadcast(UnsafeMutableRawBufferPointer(buffer), root: 0)
        }
        return position.step
    }

    /// Loads the latest complete checkpoint into the policy (its adapters with LoRA), the optimizer and a TR-DPO
    /// reference (rank 0).
    private func readLatestCheckpoint() throws -> TrainerState {
        guard let folder = try CheckpointDirectory(outputDir: outputDir).latest() else {
            throw RunError.input("--resume: no checkpoint-<step> folder in `output_dir` \(outputDir.path)")
        }
        let stateURL = folder.appendingPathComponent(Self.stateFile)
        let state: TrainerState
        do {
            state = try JSONDecoder().decode(TrainerState.self, from: Data(contentsOf: stateURL))
        } catch {
            throw RunError.input("\(stateURL.path): unreadable trainer state: \(error)")
        }
        try state.checkResumable(against: currentState())
        if policy.adapters != nil {
            try loadAdapterWeights(from: folder, into: policy)
        } else {
            try loadWeights(from: folder, into: policy)
        }
        let moments = try SafeTensorsFile.read(contentsOf: folder.appendingPathComponent(Self.optimizerFile))
        try copy(moments, name: "exp_avg", into: optimizer.firstMoment)
        try copy(moments, name: "exp_avg_sq", into: optimizer.secondMoment)
        for (file, buffer) in task.checkpointBuffers {
            let url = folder.appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw RunError.input("\(folder.path) has no \(file): it was saved by a run without `sync_ref_model`, "
                    + "so its reference model cannot be restored")
            }
            try copy(try SafeTensorsFile.read(contentsOf: url), name: "parameters", into: buffer)
        }
        return state
    }

    /// Copies a flat tensor of exactly the destination's size.
    private func copy(_ file: SafeTensorsFile, name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard let tensor = file[name] else {
            throw RunError.input("\(file.url.path): checkpoint has no tensor `\(name)`")
        }
        guard tensor.shape == [destination.count] else {
            throw RunError.input("\(file.url.path): tensor `\(name)` has shape \(tensor.shape), the model needs [\(destination.count)]")
        }
        try tensor.copyFloats(into: destination)
    }

    /// The trained policy as a Hugging Face model folder in `output_dir` (a PEFT adapter folder with LoRA).
    func saveFinalModel() throws {
        guard communicator.rank == 0 else { return }
        try source.writeFolder(of: policy, to: outputDir)
        say("saved the final model to \(outputDir.path)")
    }
}
