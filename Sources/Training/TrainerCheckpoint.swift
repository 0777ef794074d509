import Foundation
import Checkpoint
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
    static let modelFile = "model.safetensors"
    static let optimizerFile = "optimizer.safetensors"
    static let stateFile = "trainer_state.json"

    func currentState() -> TrainerState {
        TrainerState(globalStep: completedSteps, epoch: Double(completedSteps) / Double(plan.stepsPerEpoch),
                     totalSteps: plan.totalSteps, globalBatchSize: plan.globalBatchSize, pairCount: trainPairs.count,
                     seed: config.seed, worldSize: communicator.size, tokensSeen: tokensSeen, model: policy.config)
    }

    /// Rank 0 writes `checkpoint-<step>` atomically: weights, optimizer moments and trainer state.
    func saveCheckpoint() throws {
        guard communicator.rank == 0 else { return }
        let directory = CheckpointDirectory(outputDir: outputDir)
        let state = currentState()
        let saved = try directory.save(step: completedSteps) { folder in
            try SafeTensorsFile.write(policy.tensors.map { tensor in
                (tensor.name, tensor.shape, UnsafeBufferPointer(rebasing: policy.parameters[tensor.offset..<tensor.offset + tensor.count]))
            }, metadata: ["format": "dpo-dist"], to: folder.appendingPathComponent(Self.modelFile))
            try SafeTensorsFile.write([
                ("exp_avg", [policy.parameterCount], UnsafeBufferPointer(optimizer.firstMoment)),
                ("exp_avg_sq", [policy.parameterCount], UnsafeBufferPointer(optimizer.secondMoment)),
            ], metadata: ["format": "dpo-dist", "optimizer": "adamw"], to: folder.appendingPathComponent(Self.optimizerFile))
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
        try communicator.onRankZero {
            let state = try readLatestCheckpoint()
            position = (state.globalStep, state.tokensSeen)
        }
        try withUnsafeMutableBytes(of: &position) { try communicator.broadcast($0, root: 0) }
        tokensSeen = position.tokensSeen
        for buffer in [policy.parameters, optimizer.firstMoment, optimizer.secondMoment] {
            try communicator.broadcast(UnsafeMutableRawBufferPointer(buffer), root: 0)
        }
        return position.step
    }

    /// Loads the latest complete checkpoint into the policy and optimizer (rank 0).
    private func readLatestCheckpoint() throws -> TrainerState {
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
        let weights = try SafeTensorsFile.read(contentsOf: folder.appendingPathComponent(Self.modelFile))
        for tensor in policy.tensors {
            try copy(weights, name: tensor.name, shape: tensor.shape,
                     into: UnsafeMutableBufferPointer(rebasing: policy.parameters[tensor.offset..<tensor.offset + tensor.count]))
        }
        let moments = try SafeTensorsFile.read(contentsOf: folder.appendingPathComponent(Self.optimizerFile))
        try copy(moments, name: "exp_avg", shape: [policy.parameterCount], into: optimizer.firstMoment)
        try copy(moments, name: "exp_avg_sq", shape: [policy.parameterCount], into: optimizer.secondMoment)
        return state
    }

    private func copy(_ file: SafeTensorsFile, name: String, shape: [Int],
                      into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard let tensor = file[name] else {
            throw ConfigError("\(file.url.path): checkpoint has no tensor `\(name)`")
        }
        guard tensor.shape == shape else {
            throw ConfigError("\(file.url.path): tensor `\(name)` has shape \(tensor.shape), the model needs \(shape)")
        }
        try tensor.copyFloats(into: destination)
    }

    /// The trained policy as a Hugging Face model folder: `model.safetensors` (transformers' names and
    /// layout) and `config.json`, written atomically into `output_dir`.
    func saveFinalModel() throws {
        guard communicator.rank == 0 else { return }
        let exported = policy.huggingFaceTensors(from: UnsafeBufferPointer(policy.parameters))
        // One contiguous copy, so every tensor can be handed to the writer as a buffer that outlives the call.
        let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: exported.reduce(0) { $0 + $1.values.count })
        defer { storage.deallocate() }
        var offset = 0
        let views = exported.map { tensor -> (name: String, shape: [Int], values: UnsafeBufferPointer<Float>) in
            let slice = UnsafeMutableBufferPointer(rebasing: storage[offset..<offset + tensor.values.count])
            _ = slice.initialize(from: tensor.values)
            offset += tensor.values.count
            return (tensor.name, tensor.shape, UnsafeBufferPointer(slice))
        }
        try SafeTensorsFile.write(views, metadata: ["format": "pt"], to: outputDir.appendingPathComponent(Self.modelFile))
        let data = try policy.config.huggingFaceConfigJSON(adding: [
            "bos_token_id": Int(tokenizer.eosTokenID), "eos_token_id": Int(tokenizer.eosTokenID),
        ])
        try AtomicFile.write(data, to: outputDir.appendingPathComponent("config.json"))
        say("saved the final model to \(outputDir.path)")
    }
}
