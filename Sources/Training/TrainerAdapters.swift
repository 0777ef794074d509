import Foundation
import Model
import MPI

extension Trainer {
    /// Attaches the run's LoRA adapters to the loaded base on every rank: drawn from `seed` (the same everywhere), or
    /// read by rank 0 from the adapter folder `model_name_or_path` named and broadcast. An adapter trained on from a
    /// folder keeps its starting values frozen as the reference, as TRL does with a "ref" copy of a loaded adapter;
    /// a fresh one (lora_B zero) is the base, so the reference is the base with the adapters off.
    /// DPO turns the adapters' dropout off, as TRL's `disable_dropout` (on by default) does to every dropout module.
    @discardableResult
    static func attachAdapters(_ lora: LoRAConfig, to policy: any CausalLanguageModel, objective: Objective,
                               source: ModelSource, config: TrainingConfig, communicator: Communicator,
                               say: (String) -> Void) throws -> LoRAAdapters {
        let adapters: LoRAAdapters
        do {
            adapters = try policy.attachAdapters(lora, seed: UInt64(config.seed))
        } catch let error as LoRAError {
            throw RunError.input("\(error)")
        }
        adapters.disablesDropout = objective == .dpo
        if let adapter = source.adapter {
            try communicator.runOnRankZero { try source.loadAdapter(into: policy) }
            try communicator.broadcast(UnsafeMutableRawBufferPointer(adapters.parameters), root: 0)
            adapters.keepInitialAsReference()
            say("training the adapter in \(adapter.folder.path) on its base \(source.folder?.path ?? "?")"
                + (config.usePeft ? " (its adapter_config.json sets r, alpha and the targets; the lora_* keys do not apply)" : ""))
        }
        say("LoRA: r \(lora.rank), alpha \(lora.alpha)\(lora.useRSLoRA ? " (rslora)" : ""), dropout \(objective == .dpo ? 0 : lora.dropout) on "
            + "\(adapters.layout.targetModules.count) modules\(adapters.layout.savedModules.isEmpty ? "" : ", \(adapters.layout.savedModules.count) trained in full"): "
            + "\(adapters.layout.parameterCount) trainable parameters of \(policy.parameterCount + adapters.layout.parameterCount)")
        return adapters
    }
}
