import Foundation
import Kernels
import Checkpoint
import Distributed
import JSON
import Model

/// What a checkpoint records besides tensors: where the run is and what it must agree with to resume.
struct TrainerState: Equatable {
    /// Names this layout in trainer_state.json, so that a checkpoint written otherwise is rejected by name.
    static let format = "dpo-dist-checkpoint-3"

    var globalStep: Int
    var epoch: Double
    var totalSteps: Int
    var globalBatchSize: Int
    var pairCount: Int
    var seed: Int
    var worldSize: Int
    var tokensSeen: Double
    var model: ModelConfig
    /// `Fingerprint` of every token id of the training and evaluation data.
    var dataFingerprint: String
    /// `Fingerprint` of the weights the run started from (the reference model's too, unless it is precomputed).
    var initialWeightsFingerprint: String
    /// The settings a resume may change, as key → value text: a change is allowed, said and recorded.
    var hyperparameters: [(key: String, value: String)]
    /// Every change of `hyperparameters` made by a resume so far, e.g. "at step 40: `beta` 0.1 → 0.2".
    var resumeChanges: [String]

    static func == (left: TrainerState, right: TrainerState) -> Bool {
        left.json == right.json
    }

    /// Resuming is only exact when the data, the starting weights, the data order and the model are the same: a
    /// difference in any of them is refused, naming it. Changed hyperparameters are allowed; they are returned so the
    /// trainer says them and records them in later checkpoints.
    func checkResumable(against current: TrainerState) throws -> [String] {
        var problems: [String] = []
        if dataFingerprint != current.dataFingerprint {
            problems.append("the data (the token ids of `train_dataset` or `eval_dataset` differ from the checkpoint's)")
        }
        if initialWeightsFingerprint != current.initialWeightsFingerprint {
            problems.append("the starting weights (`model_name_or_path` now holds other weights, and the reference "
                + "model is read from them)")
        }
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
        let saved = Dictionary(hyperparameters, uniquingKeysWith: { $1 })
        return current.hyperparameters.compactMap { key, value in
            guard let before = saved[key], before != value else { return nil }
            return "at step \(globalStep): `\(key)` \(before) → \(value)"
        }
    }
}

/// trainer_state.json: transformers' key names where it has them, the model as its config.json object.
extension TrainerState {
    var json: JSONValue {
        .object([
            "format": .string(Self.format), "global_step": .integer(globalStep), "epoch": .double(epoch),
            "total_steps": .integer(totalSteps), "global_batch_size": .integer(globalBatchSize),
            "pair_count": .integer(pairCount), "seed": .integer(seed), "world_size": .integer(worldSize),
            "num_tokens": .double(tokensSeen), "model": .object(model.huggingFaceConfig()),
            "data_fingerprint": .string(dataFingerprint), "initial_weights_fingerprint": .string(initialWeightsFingerprint),
            "hyperparameters": .object(JSONObject(hyperparameters.map { ($0.key, .string($0.value)) })),
            "resume_changes": .array(resumeChanges.map { .string($0) }),
        ])
    }

    /// Reads `json`; throws `JSONError` naming the key for a missing or mistyped one, or for another format.
    init(_ json: JSONField) throws {
        let format = try json.required("format").string()
        guard format == Self.format else {
            throw json.error("this checkpoint has format \"\(format)\", but this dpo-dist reads \"\(Self.format)\"",
                             key: "format")
        }
        self.init(globalStep: try json.required("global_step").int(), epoch: try json.required("epoch").double(),
                  totalSteps: try json.required("total_steps").int(),
                  globalBatchSize: try json.required("global_batch_size").int(),
                  pairCount: try json.required("pair_count").int(), seed: try json.required("seed").int(),
                  worldSize: try json.required("world_size").int(), tokensSeen: try json.required("num_tokens").double(),
                  model: try ModelConfig(huggingFaceConfig: json.required("model")),
                  dataFingerprint: try json.required("data_fingerprint").string(),
                  initialWeightsFingerprint: try json.required("initial_weights_fingerprint").string(),
                  hyperparameters: try json.required("hyperparameters").members().map { ($0.key, try $0.value.string()) },
                  resumeChanges: try json.required("resume_changes").array().map { try $0.string() })
    }
}

extension Trainer {
    /// The trainer_state.json format this build writes and resumes (`dpo-dist --version` shows it).
    public static var checkpointFormat: String { TrainerState.format }
    static let optimizerFile = "optimizer.safetensors"
    static let stateFile = "trainer_state.json"

    func currentState() -> TrainerState {
        TrainerState(globalStep: completedSteps, epoch: Double(completedSteps) / Double(plan.stepsPerEpoch),
                     totalSteps: plan.totalSteps, globalBatchSize: plan.globalBatchSize, pairCount: task.trainCount,
                     seed: config.seed, worldSize: communicator.size, tokensSeen: tokensSeen, model: policy.config,
                     dataFingerprint: dataFingerprint, initialWeightsFingerprint: initialWeightsFingerprint,
                     hyperparameters: config.resumableSettings, resumeChanges: resumeChanges)
    }

    /// Rank 0 writes `checkpoint-<step>` atomically: the policy as a Hugging Face folder (so any checkpoint loads
    /// with `from_pretrained`; with LoRA a PEFT adapter folder for `PeftModel.from_pretrained`), the optimizer moments,
    /// the task's own buffers (a TR-DPO reference that has drifted from the initial weights) and the trainer state.
    /// Every rank calls it: with ZeRO the other ranks send rank 0 their shards of the moments.
    func saveCheckpoint() throws {
        try checkOptimizerStateFinite()
        guard communicator.rank == 0 else {
            try gatherOptimizerState(into: nil)
            return
        }
        let directory = CheckpointDirectory(outputDir: outputDir)
        let state = currentState()
        let saved = try directory.save(step: completedSteps) { folder in
            try source.writeFolder(of: policy, to: folder)
            try writeResolvedConfig(to: folder)
            try gatherOptimizerState(into: folder.appendingPathComponent(Self.optimizerFile))
            for entry in task.checkpointBuffers {
                try SafeTensorsFile.write([("parameters", [entry.buffer.count], UnsafeBufferPointer(entry.buffer))],
                                          metadata: ["format": "dpo-dist"], to: folder.appendingPathComponent(entry.file))
            }
            try AtomicFile.write(Data((state.json.serialized(.indentedSorted) + "\n").utf8),
                                 to: folder.appendingPathComponent(Self.stateFile))
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
        try SafeTensorsFile.write(moments.map { ($0.name, [zero.parameterCount]) },
                                  metadata: ["format": "dpo-dist", "optimizer": "adamw"], to: url) { index, write in
            try communicator.gatherOnRankZero(UnsafeBufferPointer(moments[index].buffer), held: held, consume: write)
        }
    }

    /// Every rank: the AdamW moments are finite (a huge finite gradient can overflow the second moment while the
    /// weights are still finite), or the run stops before a checkpoint holding them is written. Weights are checked
    /// after every update (`runStep`).
    private func checkOptimizerStateFinite() throws {
        guard try momentsAreFiniteOnEveryRank() else {
            throw RunError.diverged(step: completedSteps, what: "the optimizer's moment estimates are not finite, so "
                + "checkpoint-\(completedSteps) was not written: lower `learning_rate` or `max_grad_norm`; the newest "
                + "checkpoint in output_dir is intact")
        }
    }

    /// Whether every rank's moments (its shard of them, with ZeRO) are finite; the same answer on every rank.
    private func momentsAreFiniteOnEveryRank() throws -> Bool {
        let finite = moments.allSatisfy { allFinite($0.buffer.baseAddress!, count: $0.buffer.count, parallel: parallel) }
        var bad: [Double] = [finite ? 0 : 1]
        if communicator.size > 1 {
            try bad.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
        }
        return bad[0] == 0
    }

    /// Rank 0 reads the latest checkpoint and broadcasts it (a node-shared buffer to one rank per node), sending each
    /// rank its shard of the optimizer moments (a checkpoint saved at any rank count resumes at any other); every rank
    /// returns its step.
    func restoreLatestCheckpoint() throws -> Int {
        var position = (step: 0, tokensSeen: 0.0)
        var optimizerState: SafeTensorsFile?
        try communicator.runOnRankZero {
            let (state, file) = try readLatestCheckpoint()
            position = (state.globalStep, state.tokensSeen)
            optimizerState = file
        }
        try withUnsafeMutableBytes(of: &position) { try communicator.broadcast($0, root: 0) }
        tokensSeen = position.tokensSeen
        let unshared = task.checkpointBuffers.filter { $0.nodeShared == nil }.map(\.buffer)
        for buffer in [trainingStep.trainable.parameters] + unshared {
            try communicator.broadcast(UnsafeMutableRawBufferPointer(buffer), root: 0)
        }
        for shared in task.checkpointBuffers.compactMap(\.nodeShared) {
            try shared.broadcastFromRankZero()
        }
        for moment in moments {
            try communicator.scatterFromRankZero(into: moment.buffer, held: zero.ownedRanges) { range, destination in
                try optimizerState!.tensor(named: moment.name).copyFloats(range, into: destination)
            }
        }
        // Every rank holds the same weights now, and learns whether any rank's moments are not finite, so every rank
        // finds this alike.
        let momentsFinite = try momentsAreFiniteOnEveryRank()
        let buffers = [trainingStep.trainable.parameters] + task.checkpointBuffers.map(\.buffer)
        guard momentsFinite, buffers.allSatisfy({ allFinite($0.baseAddress!, count: $0.count, parallel: parallel) }) else {
            throw RunError.input("checkpoint-\(position.step) in \(outputDir.path) holds non-finite values (it was not "
                + "written by this version of dpo-dist, which never saves them): resume from an earlier checkpoint")
        }
        return position.step
    }

    /// Loads the latest complete checkpoint into the policy (its adapters with LoRA) and a TR-DPO reference, and
    /// checks its optimizer state, whose file it returns (rank 0).
    private func readLatestCheckpoint() throws -> (TrainerState, SafeTensorsFile) {
        guard let folder = try CheckpointDirectory(outputDir: outputDir).latest() else {
            throw RunError.input("--resume: no checkpoint-<step> folder in `output_dir` \(outputDir.path)")
        }
        let stateURL = folder.appendingPathComponent(Self.stateFile)
        guard let data = FileManager.default.contents(atPath: stateURL.path) else {
            throw RunError.input("\(stateURL.path): unreadable trainer state: the file is missing or cannot be read")
        }
        // A JSONError names the file and key itself.
        let state: TrainerState
        do {
            state = try TrainerState(try JSONField.parse(data, file: stateURL.path))
        } catch let error as ModelError {
            throw RunError.input("\(stateURL.path): unreadable trainer state: \"model\": \(error)")
        }
        let changes = try state.checkResumable(against: currentState())
        resumeChanges = state.resumeChanges + changes
        for change in changes {
            say("resuming with a changed setting, recorded in trainer_state.json: \(change)")
        }
        if policy.adapters != nil {
            try loadAdapterWeights(from: folder, into: policy)
        } else {
            try loadWeights(from: folder, into: policy)
        }
        let optimizerState = try SafeTensorsFile.read(contentsOf: folder.appendingPathComponent(Self.optimizerFile))
        for moment in moments {
            _ = try flatTensor(optimizerState, name: moment.name, count: zero.parameterCount)
        }
        for entry in task.checkpointBuffers {
            let url = folder.appendingPathComponent(entry.file)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw RunError.input("\(folder.path) has no \(entry.file): it was saved by a run without `sync_ref_model`, "
                    + "so its reference model cannot be restored")
            }
            try flatTensor(try SafeTensorsFile.read(contentsOf: url), name: "parameters", count: entry.buffer.count)
                .copyFloats(into: entry.buffer)
        }
        return (state, optimizerState)
    }

    /// The tensor `name` of `file`, which must be flat with `count` elements.
    private func flatTensor(_ file: SafeTensorsFile, name: String, count: Int) throws -> SafeTensor {
        guard let tensor = file[name] else {
            throw RunError.input("\(file.url.path): checkpoint has no tensor `\(name)`")
        }
        guard tensor.shape == [count] else {
            throw RunError.input("\(file.url.path): tensor `\(name)` has shape \(tensor.shape), the model needs [\(count)]")
        }
        return tensor
    }

    /// The trained policy as a Hugging Face model folder in `output_dir` (a PEFT adapter folder with LoRA).
    func saveFinalModel() throws {
        guard communicator.rank == 0 else { return }
        try source.writeFolder(of: policy, to: outputDir)
        say("saved the final model to \(outputDir.path)")
    }
}
