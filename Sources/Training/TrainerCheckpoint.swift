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
            throw ConfigError("cannot resume checkpoint-\(globalStep): this run changed " + problems.joined(separator: ", "))
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
    /// with `from_pretrained`), the optimizer moments, the task's own buffers (a TR-DPO reference that has drifted
    /// from the initial weights) and the trainer state. Every rank calls it: with ZeRO the other ranks send rank 0
    /// their shards of the moments.
    func saveCheckpoint() throws {
        guard communicator.rank == 0 else {
            try gatherOptimizerState(into: nil)
            return
        }
        let directory = CheckpointDirectory(outputDir: outputDir)
        let state = currentState()
        let saved = try directory.save(step: completedSteps) { folder in
            try source.writeFolder(of: policy, to: folder)
            try gatherOptimizerState(into: folder.appendingPathComponent(Self.optimizerFile))
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

    /// AdamW's moments by checkpoint name, in name order (the order of the file, in which ranks send their shards).
    private var moments: [(name: String, buffer: UnsafeMutableBufferPointer<Float>)] {
        [("exp_avg", optimizer.firstMoment), ("exp_avg_sq", optimizer.secondMoment)]
    }

    /// Gathers the moments from the ranks' shards into rank 0's `url` as flat tensors over all parameters, so the file
    /// is the same whatever the rank count and ZeRO stage; the other ranks pass nil and only send. Collective.
    private func gatherOptimizerState(into url: URL?) throws {
        let held = zero.ownedRanges
        guard let url else {
            for moment in moments {
                try communicator.gatherOnRankZero(UnsafeBufferPointer(moment.buffer), held: held) { _ in }
            }
            return
        }
        try SafeTensorsFile.write(moments.map { ($0.name, [policy.parameterCount]) },
                                  metadata: ["format": "dpo-dist", "optimizer": "adamw"], to: url) { index, write in
            try communicator.gatherOnRankZero(UnsafeBufferPointer(moments[index].buffer), held: held, consume: write)
        }
    }

    /// Rank 0 reads the latest checkpoint and broadcasts it, sending each rank its shard of the optimizer moments (a
    /// checkpoint saved at any rank count resumes at any other); every rank returns its step.
    func restoreLatestCheckpoint() throws -> Int {
        var position = (step: 0, tokensSeen: 0.0)
        var optimizerState: SafeTensorsFile?
        try communicator.onRankZero {
            let (state, file) = try readLatestCheckpoint()
            position = (state.globalStep, state.tokensSeen)
            optimizerState = file
        }
        try withUnsafeMutableBytes(of: &position) { try communicator.broadcast($0, root: 0) }
        tokensSeen = position.tokensSeen
        for buffer in [policy.parameters] + task.checkpointBuffers.map(\.buffer) {
            try communicator.broadcast(UnsafeMutableRawBufferPointer(buffer), root: 0)
        }
        for moment in moments {
            try communicator.scatterFromRankZero(into: moment.buffer, held: zero.ownedRanges) { range, destination in
                try optimizerState!.tensor(named: moment.name).copyFloats(range, into: destination)
            }
        }
        return position.step
    }

    /// Loads the latest complete checkpoint into the policy and a TR-DPO reference, and checks its optimizer state,
    /// whose file it returns (rank 0).
    private func readLatestCheckpoint() throws -> (TrainerState, SafeTensorsFile) {
        guard let folder = try CheckpointDirectory(outputDir: outputDir).latest() else {
            throw ConfigError("--resume: no checkpoint-<step> folder in `output_dir` \(outputDir.path)")
        }
        let stateURL = folder.appendingPathComponent(Self.stateFile)
        let state: TrainerState
        do {
            state = try JSONDecoder().decode(TrainerState.self, from: Data(contentsOf: stateURL))
        } catch {
            throw ConfigError("\(stateURL.path): unreadable trainer state: \(error)")
        }
        try state.checkResumable(against: currentState())
        try loadWeights(from: folder, into: policy)
        let optimizerState = try SafeTensorsFile.read(contentsOf: folder.appendingPathComponent(Self.optimizerFile))
        for moment in moments {
            _ = try flatTensor(optimizerState, name: moment.name, count: policy.parameterCount)
        }
        for (file, buffer) in task.checkpointBuffers {
            let url = folder.appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw ConfigError("\(folder.path) has no \(file): it was saved by a run without `sync_ref_model`, "
                    + "so its reference model cannot be restored")
            }
            try flatTensor(try SafeTensorsFile.read(contentsOf: url), name: "parameters", count: buffer.count)
                .copyFloats(into: buffer)
        }
        return (state, optimizerState)
    }

    /// The tensor `name` of `file`, which must be flat with `count` elements.
    private func flatTensor(_ file: SafeTensorsFile, name: String, count: Int) throws -> SafeTensor {
        guard let tensor = file[name] else {
            throw ConfigError("\(file.url.path): checkpoint has no tensor `\(name)`")
        }
        guard tensor.shape == [count] else {
            throw ConfigError("\(file.url.path): tensor `\(name)` has shape \(tensor.shape), the model needs [\(count)]")
        }
        return tensor
    }

    /// The trained policy as a Hugging Face model folder in `output_dir`.
    func saveFinalModel() throws {
        guard communicator.rank == 0 else { return }
        try source.writeFolder(of: policy, to: outputDir)
        say("saved the final model to \(outputDir.path)")
    }
}
