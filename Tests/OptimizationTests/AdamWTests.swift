import Testing
import Kernels
import Model
@testable import Optimization

@Suite struct AdamWTests {
    /// A small trainable GPT-2 with seeded weights and gradients.
    private func model() throws -> any CausalLanguageModel {
        let config = ModelConfig.gpt2(vocabSize: 50, maxPositions: 16, layers: 2, heads: 2, channels: 16)
        let model = try makeCausalLanguageModel(config: config, trainable: true, parallel: Parallel(threads: 1))
        model.initializeRandomly(seed: 3)
        for index in model.gradients.indices {
            model.gradients[index] = Float((index * 7919) % 201 - 100) * 1e-3
        }
        return model
    }

    @Test func decayGroupsCoverTheBufferAndDecayOnlyTheTensorsThatDecay() throws {
        let model = try model()
        let optimizer = AdamW(for: model.trainableParameters, settings: AdamW.Settings(weightDecay: 0.1))
        #expect(optimizer.decayGroups.first?.range.lowerBound == 0)
        #expect(optimizer.decayGroups.last?.range.upperBound == model.parameterCount)
        for (group, next) in zip(optimizer.decayGroups, optimizer.decayGroups.dropFirst()) {
            #expect(group.range.upperBound == next.range.lowerBound)
            #expect(group.weightDecay != next.weightDecay, "neighbouring runs of one decay are merged")
        }
        for tensor in model.tensors {
            let group = try #require(optimizer.decayGroups.first { $0.range.contains(tensor.offset) })
            #expect(group.weightDecay == (tensor.decays ? 0.1 : 0), "\(tensor.name)")
        }
        // Without weight decay the whole buffer is one run.
        #expect(AdamW(for: model.trainableParameters, settings: AdamW.Settings()).decayGroups.map(\.range) == [0 ..< model.parameterCount])
    }

    /// The grouped update is the per-tensor update of Hugging Face's two parameter groups, bit for bit.
    @Test func matchesTheKernelAppliedTensorByTensor() throws {
        let (grouped, perTensor) = (try model(), try model())
        let settings = AdamW.Settings(beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.05)
        let optimizer = AdamW(for: grouped.trainableParameters, settings: settings)
        var firstMoment = [Float](repeating: 0, count: perTensor.parameterCount)
        var secondMoment = [Float](repeating: 0, count: perTensor.parameterCount)
        let parallel = Parallel(threads: 2)
        for step in 1 ... 3 {
            optimizer.update(grouped.trainableParameters, step: step, learningRate: 1e-2, parallel: parallel)
            for tensor in perTensor.tensors {
                let kernelSettings = AdamWSettings(learningRate: 1e-2, beta1: 0.8, beta2: 0.99, epsilon: 1e-6,
                                                   weightDecay: tensor.decays ? 0.05 : 0)
                firstMoment.withUnsafeMutableBufferPointer { m in
                    secondMoment.withUnsafeMutableBufferPointer { v in
                        adamWUpdate(parameters: perTensor.parameters.baseAddress! + tensor.offset,
                                    gradients: perTensor.gradients.baseAddress! + tensor.offset,
                                    firstMoment: m.baseAddress! + tensor.offset, secondMoment: v.baseAddress! + tensor.offset,
                                    count: tensor.count, step: step, settings: kernelSettings, parallel: parallel)
                    }
                }
            }
        }
        #expect(Array(grouped.parameters) == Array(perTensor.parameters))
        #expect(Array(optimizer.firstMoment) == firstMoment)
        #expect(Array(optimizer.secondMoment) == secondMoment)
    }

    /// Updating the buffer in shards (as ranks owning a part of the optimizer state would) gives the same bits as the
    /// whole-buffer update, and a shard's update leaves everything outside it alone.
    @Test func updatingShardByShardEqualsTheWholeUpdate() throws {
        let (whole, sharded) = (try model(), try model())
        let settings = AdamW.Settings(weightDecay: 0.01)
        let (wholeOptimizer, shardedOptimizer) = (AdamW(for: whole.trainableParameters, settings: settings), AdamW(for: sharded.trainableParameters, settings: settings))
        let parallel = Parallel(threads: 1)
        let count = whole.parameterCount
        let shards = [0 ..< count / 3, count / 3 ..< count / 3 + 1, count / 3 + 1 ..< count]
        for step in 1 ... 2 {
            wholeOptimizer.update(whole.trainableParameters, step: step, learningRate: 1e-3, parallel: parallel)
            let before = Array(sharded.parameters)
            shardedOptimizer.update(sharded.trainableParameters, step: step, learningRate: 1e-3, range: shards[0], parallel: parallel)
            #expect(Array(sharded.parameters[shards[0].upperBound...]) == Array(before[shards[0].upperBound...]))
            for shard in shards.dropFirst() {
                shardedOptimizer.update(sharded.trainableParameters, step: step, learningRate: 1e-3, range: shard, parallel: parallel)
            }
        }
        #expect(Array(whole.parameters) == Array(sharded.parameters))
        #expect(Array(wholeOptimizer.secondMoment) == Array(shardedOptimizer.secondMoment))
    }

    /// Optimizers that each cover one shard and hold only its moments (ZeRO-1) update the parameters as one optimizer
    /// over the whole buffer does, bit for bit, and their moments laid end to end are the whole optimizer's.
    @Test func optimizersOverShardsEqualOneOverTheWholeBuffer() throws {
        let (whole, sharded) = (try model(), try model())
        let settings = AdamW.Settings(weightDecay: 0.01)
        let wholeOptimizer = AdamW(for: whole.trainableParameters, settings: settings)
        let count = whole.parameterCount
        let shards = [0 ..< 1000, 1000 ..< 1000, 1000 ..< count]
        let shardOptimizers = shards.map { AdamW(for: sharded.trainableParameters, settings: settings, range: $0) }
        #expect(shardOptimizers.map(\.firstMoment.count) == shards.map(\.count))
        let parallel = Parallel(threads: 2)
        for step in 1 ... 3 {
            wholeOptimizer.update(whole.trainableParameters, step: step, learningRate: 1e-3, parallel: parallel)
            for optimizer in shardOptimizers {
                optimizer.update(sharded.trainableParameters, step: step, learningRate: 1e-3, parallel: parallel)
            }
        }
        #expect(Array(whole.parameters) == Array(sharded.parameters))
        #expect(Array(wholeOptimizer.firstMoment) == shardOptimizers.flatMap { Array($0.firstMoment) })
        #expect(Array(wholeOptimizer.secondMoment) == shardOptimizers.flatMap { Array($0.secondMoment) })
    }

    /// With LoRA the optimizer holds moments for the adapters only, decays lora_A/lora_B but not a saved norm, and
    /// leaves the frozen base as it was.
    @Test func overAdaptersOnlyTheAdaptersMove() throws {
        let config = ModelConfig.gpt2(vocabSize: 50, maxPositions: 16, layers: 2, heads: 2, channels: 16)
        let model = try makeCausalLanguageModel(config: config, trainable: false, parallel: Parallel(threads: 1))
        model.initializeRandomly(seed: 3)
        let adapters = try model.attachAdapters(LoRAConfig(rank: 2, modulesToSave: ["ln_f"]), seed: 4)
        let trainable = model.trainableParameters
        for index in trainable.gradients.indices { trainable.gradients[index] = Float(index % 7) * 1e-2 }
        let base = Array(model.parameters), before = Array(trainable.parameters)
        let optimizer = AdamW(for: trainable, settings: AdamW.Settings(weightDecay: 0.1))
        #expect(optimizer.firstMoment.count == adapters.layout.parameterCount)
        for tensor in adapters.layout.tensors {
            let group = try #require(optimizer.decayGroups.first { $0.range.contains(tensor.offset) })
            #expect(group.weightDecay == (tensor.name.contains(".lora_") ? 0.1 : 0), "\(tensor.name)")
        }
        optimizer.update(trainable, step: 1, learningRate: 1e-2, parallel: Parallel(threads: 1))
        #expect(Array(model.parameters) == base)
        #expect(Array(trainable.parameters) != before)
    }
}
