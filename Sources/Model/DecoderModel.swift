import Foundation
import Kernels
import SeededRandom

/// The one decoder-only transformer of every family, configured by `config.architecture`: pre-norm blocks
/// (norm → causal self-attention → residual; norm → MLP → residual), a final norm and an LM head, no dropout.
/// GPT-2 uses LayerNorm, a learned position table, a tanh-GELU MLP and a tied head; the Llama family RMSNorm,
/// rotary q/k, grouped-query attention and a SwiGLU MLP, with the biases and head tying its config names.
/// All parameters live in one flat 64-byte-aligned buffer (and all gradients in another, page-mapped so that ranges of
/// it can be released) laid out by `ParameterLayout`; activations are sized for the batch shape and reused across
/// calls. A frozen model can instead run over a parameter buffer someone else owns and fills
/// (`init(config:sharedParameters:owner:parallel:)`). With LoRA adapters attached (`attachAdapters`) the base buffer is
/// frozen and the adapters' own flat buffers are the trainable ones.
public final class DecoderModel: CausalLanguageModel {
    public let config: ModelConfig
    public let layout: ParameterLayout
    public let tensors: [ParameterTensor]
    public let parameterCount: Int
    public private(set) var parameters: UnsafeMutableBufferPointer<Float>
    public private(set) var gradients: UnsafeMutableBufferPointer<Float>
    public let trainable: Bool
    /// Whether a training forward keeps only each block's input and backward reruns the block's forward (TRL's
    /// `gradient_checkpointing`): the same gradients bit for bit, for one more trunk forward per step.
    public var gradientCheckpointing = false
    /// Threads the kernels may use.
    public let parallel: Parallel
    /// What keeps an external parameter buffer alive; nil when the model allocated (and frees) its own.
    private let parameterOwner: AnyObject?

    /// Rows of the LM head computed at once, so at most `lmHeadChunkRows × vocabSize` logits are alive.
    public static let lmHeadChunkRows = 128

    let activations: ActivationStore
    /// LoRA adapters on the Linear layers, when attached: every forward adds their low-rank paths (as `selection`
    /// says) and backward computes their gradients instead of the base model's.
    public internal(set) var adapters: LoRAAdapters?

    /// Rotary inverse frequencies (rotary families only) and their cos/sin table, grown to the longest batch seen.
    private let rotaryFrequencies: [Double]?
    private var rotaryTable: RotaryTable?
    /// The batch and scored positions of the last training forward, which `backward` differentiates.
    var pendingBackward: (batch: SequenceBatch, scored: ScoredPositions)?

    /// Parameters start zeroed; call `initializeRandomly(seed:)`, `copyParameters(from:)` or load weights.
    /// The config must be valid (check with `ModelConfig.validate()` first, or build through `makeCausalLanguageModel`).
    public convenience init(config: ModelConfig, trainable: Bool, parallel: Parallel) {
        let layout = ParameterLayout(config: config)
        self.init(config: config, layout: layout, parameters: allocateAlignedFloats(layout.parameterCount), owner: nil,
                  trainable: trainable, parallel: parallel)
    }

    /// A frozen model over `sharedParameters`, a 64-byte-aligned buffer of `parameterCount` floats that `owner` keeps
    /// alive and that whoever owns it fills: several models (in several processes) can read one copy of the weights.
    /// The model never writes it — `initializeRandomly` and `copyParameters` are refused — and has no gradients.
    public convenience init(config: ModelConfig, sharedParameters: UnsafeMutableBufferPointer<Float>, owner: AnyObject,
                            parallel: Parallel) {
        let layout = ParameterLayout(config: config)
        precondition(sharedParameters.count == layout.parameterCount,
                     "shared parameters hold \(sharedParameters.count) floats, the model needs \(layout.parameterCount)")
        precondition(Int(bitPattern: sharedParameters.baseAddress) % 64 == 0, "shared parameters must be 64-byte aligned")
        self.init(config: config, layout: layout, parameters: sharedParameters, owner: owner, trainable: false,
                  parallel: parallel)
    }

    private init(config: ModelConfig, layout: ParameterLayout, parameters: UnsafeMutableBufferPointer<Float>,
                 owner: AnyObject?, trainable: Bool, parallel: Parallel) {
        do { try config.validate() } catch { preconditionFailure("\(error)") }
        self.config = config
        self.layout = layout
        self.tensors = layout.tensors
        self.parameterCount = layout.parameterCount
        self.trainable = trainable
        self.parallel = parallel
        self.parameters = parameters
        self.parameterOwner = owner
        self.gradients = trainable ? PageMappedFloats.allocate(layout.parameterCount)
                                   : UnsafeMutableBufferPointer(start: nil, count: 0)
        self.activations = ActivationStore(config: config)
        self.rotaryFrequencies = config.architecture.positionEncoding == .rotary ? config.rotaryInverseFrequencies : nil
    }

    deinit {
        if parameterOwner == nil { deallocateAlignedFloats(parameters) }
        PageMappedFloats.deallocate(gradients)
    }

    /// Whether the parameters are someone else's read-only buffer (`init(config:sharedParameters:owner:parallel:)`).
    public var hasSharedParameters: Bool { parameterOwner != nil }

    /// Hugging Face's `_init_weights`: 2-D weights and embeddings N(0, 0.02) (GPT-2's residual projections
    /// `c_proj.weight` N(0, 0.02/√(2·layers))), norm weights 1, biases 0. Deterministic in `seed`.
    public func initializeRandomly(seed: UInt64) {
        precondition(!hasSharedParameters, "a model over shared parameters does not write them")
        var normal = NormalGenerator(seed: seed)
        let projectionStd = 0.02 / Double(2 * config.layers).squareRoot()
        for tensor in tensors {
            let values = UnsafeMutableBufferPointer(rebasing: parameters[tensor.range])
            if tensor.shape.count == 1 {
                // The only 1-D weights are norm gains.
                values.update(repeating: tensor.name.hasSuffix(".weight") ? 1 : 0)
            } else {
                let std = tensor.name.hasSuffix(".c_proj.weight") ? projectionStd : 0.02
                for index in values.indices { values[index] = Float(std * normal.next()) }
            }
        }
    }

    public func copyParameters(from other: any CausalLanguageModel) {
        precondition(other.config == config, "copyParameters needs equal configs (\(other.config) vs \(config))")
        precondition(!hasSharedParameters, "a model over shared parameters does not write them")
        parameters.baseAddress!.update(from: other.parameters.baseAddress!, count: parameterCount)
    }

    /// The whole model's buffers, or with adapters attached theirs.
    public var trainableParameters: TrainableParameters {
        if let adapters { return adapters.trainableParameters }
        precondition(trainable, "a model created with trainable: false has no trainable parameters without adapters")
        return TrainableParameters(parameters: parameters, gradients: gradients, tensors: tensors)
    }

    public func zeroGradients() {
        trainableParameters.zeroGradients(parallel: parallel)
    }

    // MARK: Forward

    /// Only scored positions go through the final norm and the LM head, `lmHeadChunkRows` rows at a time; every
    /// statistic of `SequenceScores` comes from that one pass over each chunk's logits.
    public func score(_ batch: SequenceBatch, training: Bool) -> SequenceScores {
        precondition(!training || trainable || adapters != nil,
                     "score(training: true) needs a model created with trainable: true, or adapters")
        requireValid(batch)
        pendingBackward = nil
        runTrunk(batch, keeping: training ? (gradientCheckpointing ? .blockInputs : .everyLayer) : .oneLayer)

        let scored = ScoredPositions(batch)
        let a = activations
        let V = config.vocabSize
        a.prepareHead(scoredRows: scored.count, chunkRows: Self.lmHeadChunkRows, forBackward: training)
        normalizeScoredRows(scored)
        scored.targets.withUnsafeBufferPointer { targets in
            a.headArgmaxes.withUnsafeMutableBufferPointer { argmaxes in
                forEachHeadChunk(scoredRows: scored.count) { start, rows in
                    computeChunkLogits(start: start, rows: rows)
                    logSoftmaxGatherForward(logProbs: a.headLogProbs.pointer + start, logSumExp: a.headLogSumExp.pointer + start,
                                            logitSums: a.headLogitSums.pointer + start,
                                            entropies: a.headEntropies.pointer + start, argmaxes: argmaxes.baseAddress! + start,
                                            logSumSquaredProbs: a.headLogSumSquaredProbs.pointer + start,
                                            logits: a.chunkLogits.pointer, targets: targets.baseAddress! + start,
                                            rows: rows, vocab: V, parallel: parallel)
                }
            }
        }

        var logProbSums = [Double](repeating: 0, count: batch.count)
        var scores = SequenceScores(count: batch.count)
        for (i, sequence) in scored.sequences.enumerated() {
            logProbSums[sequence] += Double(a.headLogProbs.pointer[i])
            scores.tokenCounts[sequence] += 1
            scores.meanLogitSums[sequence] += Double(a.headLogitSums.pointer[i]) / Double(V)
            scores.entropySums[sequence] += Double(a.headEntropies.pointer[i])
            scores.logSumSquaredProbSums[sequence] += Double(a.headLogSumSquaredProbs.pointer[i])
            if a.headArgmaxes[i] == scored.targets[i] { scores.correctTokenCounts[sequence] += 1 }
        }
        scores.logProbSums = logProbSums.map(Float.init)
        scores.tokenLogProbs = Array(UnsafeBufferPointer(start: a.headLogProbs.pointer, count: scored.count))
        if training { pendingBackward = (batch, scored) }
        return scores
    }

    /// Discards the activations of a previous training forward.
    public func logits(_ batch: SequenceBatch) -> [Float] {
        requireValid(batch)
        pendingBackward = nil
        runTrunk(batch, keeping: .oneLayer)
        return headLogits(firstRow: 0, rows: activations.rows)
    }

    /// The final norm and the LM head of `rows` rows of the last trunk pass from `firstRow` on: logits [rows, vocab].
    func headLogits(firstRow: Int, rows: Int) -> [Float] {
        let (C, V) = (config.channels, config.vocabSize)
        // The projection scratch is free once the trunk has run; it holds the final norm's output here.
        let normed = activations.projection.pointer
        normalize(layout.finalNorm, out: normed, mean: nil, rstd: nil,
                  inp: activations.residualStream(config.layers) + firstRow * C, rows: rows)
        return [Float](unsafeUninitializedCapacity: rows * V) { buffer, initialized in
            matmulForward(out: buffer.baseAddress!, inp: normed, weight: parameter(layout.outputEmbedding), bias: nil,
                          rows: rows, inDim: C, outDim: V, parallel: parallel)
            initialized = rows * V
        }
    }

    private func requireValid(_ batch: SequenceBatch) {
        do { try batch.validate(for: config) } catch { preconditionFailure("\(error)") }
    }

    /// A base parameter, or its trainable copy while adapters that train its module in full are in use.
    func parameter(_ offset: Int) -> UnsafeMutablePointer<Float> {
        if let adapters, let active = adapters.active, let copy = adapters.layout.copyOffset(ofBase: offset) {
            return active + copy
        }
        return parameters.baseAddress! + offset
    }

    /// Where the gradient of a base parameter goes: the model's gradient buffer, with adapters the gradient of its
    /// trainable copy, or nil when it is frozen (its backward products are skipped).
    private func gradient(_ offset: Int) -> UnsafeMutablePointer<Float>? {
        guard let adapters else { return gradients.baseAddress.map { $0 + offset } }
        return adapters.layout.copyOffset(ofBase: offset).map { adapters.gradients.baseAddress! + $0 }
    }

    /// LayerNorm or RMSNorm of `rows` rows of width C; statistics are saved where given (RMSNorm has no mean).
    private func normalize(_ norm: NormOffsets, out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>?,
                           rstd: UnsafeMutablePointer<Float>?, inp: UnsafePointer<Float>, rows: Int) {
        switch norm {
        case .layerNorm(let weight, let bias):
            layerNormForward(out: out, mean: mean, rstd: rstd, inp: inp, weight: parameter(weight), bias: parameter(bias),
                             rows: rows, dim: config.channels, epsilon: config.normEpsilon, parallel: parallel)
        case .rmsNorm(let weight):
            rmsNormForward(out: out, rstd: rstd, inp: inp, weight: parameter(weight), rows: rows, dim: config.channels,
                           epsilon: config.normEpsilon, parallel: parallel)
        }
    }

    /// Embeddings and all transformer blocks; leaves the final residual stream in `residualStream(layers)`.
    /// With a cache the batch is one sequence continuing at position `cache.count` (see `selfAttention`), and the
    /// cache holds its positions too afterwards.
    func runTrunk(_ batch: SequenceBatch, keeping: ActivationStore.Keeping, cache: KeyValueCache? = nil) {
        precondition(cache == nil || batch.count == 1, "a key/value cache holds one sequence, the batch has \(batch.count)")
        let firstPosition = cache?.count ?? 0
        activations.prepareForward(count: batch.count, length: batch.length, keeping: keeping)
        adapters?.prepare(rows: activations.rows, training: keeping != .oneLayer)
        // A cache's table is made once for all the positions it can hold, not again for every generated token.
        let positions = cache?.capacity ?? batch.length
        if let rotaryFrequencies, (rotaryTable?.positions ?? 0) < positions {
            rotaryTable = RotaryTable(inverseFrequencies: rotaryFrequencies, positions: positions)
        }
        let positionTable = layout.positionEmbedding.map { parameter($0 + firstPosition * config.channels) }
        batch.tokens.withUnsafeBufferPointer { tokens in
            embeddingForward(out: activations.residualStream(0), tokens: tokens.baseAddress!,
                             tokenTable: parameter(layout.tokenEmbedding), positionTable: positionTable,
                             batch: batch.count, seqLen: batch.length, dim: config.channels)
        }
        for layer in 0 ..< config.layers { forwardBlock(layer, cache: cache) }
        cache?.count += batch.length
    }

    private func forwardBlock(_ layer: Int, cache: KeyValueCache?) {
        let p = layout.blocks[layer]
        let s = activations.block(layer)
        let (rows, C) = (activations.rows, config.channels)
        let projection = activations.projection.pointer

        normalize(p.attentionNorm, out: s.norm1, mean: s.norm1Mean, rstd: s.norm1Rstd, inp: s.input, rows: rows)
        matmulForward(out: s.qkv, inp: s.norm1, weight: parameter(p.qkvWeight), bias: p.qkvBias.map(parameter),
                      rows: rows, inDim: C, outDim: config.qkvWidth, parallel: parallel)
        addLowRank(.qkv, layer: layer, out: s.qkv, inp: s.norm1)
        selfAttention(s, layer: layer, cache: cache)
        matmulForward(out: projection, inp: s.attentionOutput, weight: parameter(p.attentionOutputWeight),
                      bias: p.attentionOutputBias.map(parameter), rows: rows, inDim: config.attentionWidth, outDim: C,
                      parallel: parallel)
        addLowRank(.attentionOutput, layer: layer, out: projection, inp: s.attentionOutput)
        residualForward(out: s.afterAttention, a: s.input, b: projection, count: rows * C)

        normalize(p.mlpNorm, out: s.norm2, mean: s.norm2Mean, rstd: s.norm2Rstd, inp: s.afterAttention, rows: rows)
        matmulForward(out: s.mlpInput, inp: s.norm2, weight: parameter(p.mlpInputWeight), bias: p.mlpInputBias.map(parameter),
                      rows: rows, inDim: C, outDim: config.mlpInputWidth, parallel: parallel)
        addLowRank(.mlpInput, layer: layer, out: s.mlpInput, inp: s.norm2)
        applyFeedForwardActivation(out: s.mlpActivation, inp: s.mlpInput, rows: rows)
        matmulForward(out: projection, inp: s.mlpActivation, weight: parameter(p.mlpOutputWeight),
                      bias: p.mlpOutputBias.map(parameter), rows: rows, inDim: config.intermediateSize, outDim: C, parallel: parallel)
        addLowRank(.mlpOutput, layer: layer, out: projection, inp: s.mlpActivation)
        residualForward(out: s.output, a: s.afterAttention, b: projection, count: rows * C)
    }

    /// Rotary q and k (rotary families), then causal attention from `s.qkv` into `s.attentionOutput`. Without a cache
    /// the rows attend among themselves. With one they continue its sequence from position `cache.count`: their keys
    /// and values are appended to `layer`'s and they attend over every position held; an empty cache (the prompt's
    /// prefill) needs only the rows themselves, so it takes the same blocked attention as training.
    private func selfAttention(_ s: BlockActivations, layer: Int, cache: KeyValueCache?) {
        let firstPosition = cache?.count ?? 0
        if let rotaryTable {
            // q and k heads are adjacent at the start of each qkv row.
            rotaryForward(s.qkv, table: rotaryTable, batch: activations.count, seqLen: activations.length,
                          heads: config.heads + config.keyValueHeads, rowStride: config.qkvWidth,
                          firstPosition: firstPosition, parallel: parallel)
        }
        cache?.store(layer: layer, qkv: s.qkv, rows: activations.rows)
        if let cache, firstPosition > 0 {
            let keys = cache.keys(layer: layer)
            cachedAttentionForward(out: s.attentionOutput, queries: s.qkv, queryStride: config.qkvWidth, keys: keys,
                                   values: keys + cache.valueOffset, cacheStride: cache.rowWidth,
                                   firstPosition: firstPosition, rows: activations.rows, heads: config.heads,
                                   keyValueHeads: config.keyValueHeads, headSize: config.headSize, parallel: parallel)
        } else {
            attentionForward(out: s.attentionOutput, logSumExp: s.attentionLogSumExp, qkv: s.qkv,
                             shape: activations.attentionShape, parallel: parallel)
        }
    }

    /// GELU of the up projection, or SwiGLU of gate|up: [rows, mlpInputWidth] → [rows, intermediateSize].
    private func applyFeedForwardActivation(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, rows: Int) {
        let I = config.intermediateSize
        switch config.architecture.feedForward {
        case .gelu: geluForward(out: out, inp: inp, count: rows * I, parallel: parallel)
        case .swiglu: swigluForward(out: out, inp: inp, rows: rows, hidden: I, parallel: parallel)
        }
    }

    /// Gathers the final residual rows of the scored positions into `headInput` and applies the final norm to them.
    private func normalizeScoredRows(_ scored: ScoredPositions) {
        let a = activations
        let C = config.channels
        let final = a.residualStream(config.layers)
        for (i, row) in scored.rows.enumerated() {
            (a.headInput.pointer + i * C).update(from: final + row * C, count: C)
        }
        normalize(layout.finalNorm, out: a.headNormed.pointer, mean: a.headMean.pointer, rstd: a.headRstd.pointer,
                  inp: a.headInput.pointer, rows: scored.count)
    }

    /// Calls `body(start, rows)` for consecutive chunks of at most `lmHeadChunkRows` scored rows.
    private func forEachHeadChunk(scoredRows: Int, _ body: (_ start: Int, _ rows: Int) -> Void) {
        for start in stride(from: 0, to: scoredRows, by: Self.lmHeadChunkRows) {
            body(start, min(Self.lmHeadChunkRows, scoredRows - start))
        }
    }

    /// chunkLogits[r, :] = W_head · headNormed[start + r, :] (W_head is the token embedding when tied).
    private func computeChunkLogits(start: Int, rows: Int) {
        matmulForward(out: activations.chunkLogits.pointer, inp: activations.headNormed.pointer + start * config.channels,
                      weight: parameter(layout.outputEmbedding), bias: nil, rows: rows, inDim: config.channels,
                      outDim: config.vocabSize, parallel: parallel)
    }

    // MARK: Backward

    public func backward(dLogProbSums: [Float], gradientsReady: ((Range<Int>) -> Void)?) {
        guard let (batch, scored) = pendingBackward else {
            preconditionFailure("backward(dLogProbSums:) needs a preceding score(_:training: true) on this model")
        }
        precondition(dLogProbSums.count == batch.count,
                     "backward got \(dLogProbSums.count) gradients for a batch of \(batch.count) sequences")
        backward(dTokenLogProbs: scored.sequences.map { dLogProbSums[$0] }, gradientsReady: gradientsReady)
    }

    /// Finishes, in this order: the untied LM head, the final norm, the blocks from last to first, then the embeddings
    /// (a tied head's gradient is only final there, after the token embedding's own backward).
    public func backward(dTokenLogProbs: [Float], gradientsReady: ((Range<Int>) -> Void)?) {
        guard let (batch, scored) = pendingBackward else {
            preconditionFailure("backward(dTokenLogProbs:) needs a preceding score(_:training: true) on this model")
        }
        precondition(dTokenLogProbs.count == scored.count,
                     "backward got \(dTokenLogProbs.count) gradients for \(scored.count) scored tokens")
        precondition(adapters.map { $0.selection == .trained } ?? true, "backward differentiates the trained adapters")
        // Ranges of the base buffer are reported as the part of the trainable buffer that belongs to them.
        let gradientsReady = gradientsReady.map { report in
            adapters.map { adapters in { report(adapters.layout.trainableRange(coveringBase: $0)) } } ?? report
        }
        // With nothing scored every gradient is exactly zero.
        guard scored.count > 0 else {
            gradientsReady?(0 ..< parameterCount)
            return
        }
        let a = activations
        let (C, V) = (config.channels, config.vocabSize)
        a.prepareBackward()

        // LM head, chunk by chunk: recompute the logits, get dlogits, backprop into the head weight and the final norm's output.
        a.headDLogProbs.pointer.update(from: dTokenLogProbs, count: scored.count)
        a.dHeadNormed.zero(scored.count * C)
        scored.targets.withUnsafeBufferPointer { targets in
            forEachHeadChunk(scoredRows: scored.count) { start, rows in
                computeChunkLogits(start: start, rows: rows)
                logSoftmaxGatherBackward(dlogits: a.chunkDLogits.pointer, dLogProbs: a.headDLogProbs.pointer + start,
                                         logits: a.chunkLogits.pointer, logSumExp: a.headLogSumExp.pointer + start,
                                         targets: targets.baseAddress! + start, rows: rows, vocab: V, parallel: parallel)
                matmulBackward(dinp: a.dHeadNormed.pointer + start * C, dweight: gradient(layout.outputEmbedding), dbias: nil,
                               dout: a.chunkDLogits.pointer, inp: a.headNormed.pointer + start * C,
                               weight: parameter(layout.outputEmbedding), rows: rows, inDim: C, outDim: V, parallel: parallel)
            }
        }
        if !config.tiedEmbeddings {
            gradientsReady?(layout.outputEmbedding ..< layout.outputEmbedding + V * C)
        }
        a.dHeadInput.zero(scored.count * C)
        normalizeBackward(layout.finalNorm, dinp: a.dHeadInput.pointer, dout: a.dHeadNormed.pointer, inp: a.headInput.pointer,
                          mean: a.headMean.pointer, rstd: a.headRstd.pointer, rows: scored.count)
        gradientsReady?(layout.finalNormRange)

        // Scatter into the gradient of the final residual stream (each trunk row is scored at most once).
        let dResidual = a.dResidual.pointer
        a.dResidual.zero(a.rows * C)
        for (i, row) in scored.rows.enumerated() {
            (dResidual + row * C).update(from: a.dHeadInput.pointer + i * C, count: C)
        }

        for layer in (0 ..< config.layers).reversed() {
            if a.keeping == .blockInputs {
                // Gradient checkpointing: refill the one block slot from the block's saved input.
                forwardBlock(layer, cache: nil)
            }
            backwardBlock(layer)
            gradientsReady?(layout.blockRanges[layer])
        }
        batch.tokens.withUnsafeBufferPointer { tokens in
            embeddingBackward(dTokenTable: gradient(layout.tokenEmbedding), dPositionTable: layout.positionEmbedding.flatMap(gradient),
                              dout: dResidual, tokens: tokens.baseAddress!, batch: batch.count, seqLen: batch.length,
                              dim: C)
        }
        // The token (and position) embeddings sit before the first block.
        gradientsReady?(0 ..< layout.blockRanges[0].lowerBound)
    }

    /// Backward of `normalize`, ACCUMULATING into dinp and the norm's parameter gradients.
    private func normalizeBackward(_ norm: NormOffsets, dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                   inp: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int) {
        switch norm {
        case .layerNorm(let weight, let bias):
            layerNormBackward(dinp: dinp, dweight: gradient(weight), dbias: gradient(bias), dout: dout, inp: inp,
                              weight: parameter(weight), mean: mean, rstd: rstd, rows: rows, dim: config.channels,
                              parallel: parallel)
        case .rmsNorm(let weight):
            rmsNormBackward(dinp: dinp, dweight: gradient(weight), dout: dout, inp: inp, weight: parameter(weight),
                            rstd: rstd, rows: rows, dim: config.channels, parallel: parallel)
        }
    }

    /// Turns `dResidual` from the gradient of block `layer`'s output into that of its input, accumulating the block's
    /// parameter gradients. A residual connection passes its gradient through unchanged, so each norm backward
    /// adds its branch's contribution into `dResidual` in place.
    private func backwardBlock(_ layer: Int) {
        let p = layout.blocks[layer]
        let s = activations.block(layer)
        let a = activations
        let (rows, C, I) = (a.rows, config.channels, config.intermediateSize)
        let dResidual = a.dResidual.pointer

        // MLP branch: output = afterAttention + down(activation(up(norm2(afterAttention)))). The activation is kept in
        // one buffer shared by all blocks: recompute it (bit for bit: the same kernel on the same input).
        applyFeedForwardActivation(out: s.mlpActivation, inp: s.mlpInput, rows: rows)
        a.dMLPActivation.zero(rows * I)
        matmulBackward(dinp: a.dMLPActivation.pointer, dweight: gradient(p.mlpOutputWeight),
                       dbias: p.mlpOutputBias.flatMap(gradient), dout: dResidual, inp: s.mlpActivation,
                       weight: parameter(p.mlpOutputWeight), rows: rows, inDim: I, outDim: C, parallel: parallel)
        backwardLowRank(.mlpOutput, layer: layer, dinp: a.dMLPActivation.pointer, dout: dResidual, inp: s.mlpActivation)
        a.dMLPInput.zero(rows * config.mlpInputWidth)
        switch config.architecture.feedForward {
        case .gelu:
            geluBackward(dinp: a.dMLPInput.pointer, inp: s.mlpInput, dout: a.dMLPActivation.pointer, count: rows * I,
                         parallel: parallel)
        case .swiglu:
            swigluBackward(dinp: a.dMLPInput.pointer, inp: s.mlpInput, dout: a.dMLPActivation.pointer, rows: rows, hidden: I,
                           parallel: parallel)
        }
        backwardThroughNormAndProjection(.mlpInput, layer: layer, norm: p.mlpNorm, inp: s.afterAttention, normed: s.norm2,
                                         mean: s.norm2Mean, rstd: s.norm2Rstd, weight: p.mlpInputWeight,
                                         bias: p.mlpInputBias, dout: a.dMLPInput.pointer, outDim: config.mlpInputWidth)

        // Attention branch: afterAttention = input + o(attention(rotary(qkv(norm1(input))))).
        a.dAttentionOutput.zero(rows * config.attentionWidth)
        matmulBackward(dinp: a.dAttentionOutput.pointer, dweight: gradient(p.attentionOutputWeight),
                       dbias: p.attentionOutputBias.flatMap(gradient), dout: dResidual, inp: s.attentionOutput,
                       weight: parameter(p.attentionOutputWeight), rows: rows, inDim: config.attentionWidth, outDim: C,
                       parallel: parallel)
        backwardLowRank(.attentionOutput, layer: layer, dinp: a.dAttentionOutput.pointer, dout: dResidual,
                        inp: s.attentionOutput)
        a.dQKV.zero(rows * config.qkvWidth)
        attentionBackward(dqkv: a.dQKV.pointer, dout: a.dAttentionOutput.pointer, qkv: s.qkv,
                          logSumExp: s.attentionLogSumExp, shape: a.attentionShape, parallel: parallel)
        if let rotaryTable {
            rotaryBackward(a.dQKV.pointer, table: rotaryTable, batch: a.count, seqLen: a.length,
                           heads: config.heads + config.keyValueHeads, rowStride: config.qkvWidth, parallel: parallel)
        }
        backwardThroughNormAndProjection(.qkv, layer: layer, norm: p.attentionNorm, inp: s.input, normed: s.norm1,
                                         mean: s.norm1Mean, rstd: s.norm1Rstd, weight: p.qkvWeight, bias: p.qkvBias,
                                         dout: a.dQKV.pointer, outDim: config.qkvWidth)
    }

    /// The start of either branch of a block, `projection(norm(inp))`, backwards: recomputes the norm output into the
    /// shared `normed` buffer (bit for bit: the same kernel on the same input), accumulates the projection's (or its
    /// adapters') parameter gradients from `dout`, and adds the branch's gradient of `inp` into `dResidual`.
    private func backwardThroughNormAndProjection(_ projection: Projection, layer: Int, norm: NormOffsets, inp: UnsafePointer<Float>,
                                                  normed: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                                                  rstd: UnsafeMutablePointer<Float>, weight: Int, bias: Int?,
                                                  dout: UnsafePointer<Float>, outDim: Int) {
        let a = activations
        let (rows, C) = (a.rows, config.channels)
        normalize(norm, out: normed, mean: mean, rstd: rstd, inp: inp, rows: rows)
        a.dNormed.zero(rows * C)
        matmulBackward(dinp: a.dNormed.pointer, dweight: gradient(weight), dbias: bias.flatMap(gradient), dout: dout,
                       inp: normed, weight: parameter(weight), rows: rows, inDim: C, outDim: outDim, parallel: parallel)
        backwardLowRank(projection, layer: layer, dinp: a.dNormed.pointer, dout: dout, inp: normed)
        normalizeBackward(norm, dinp: a.dResidual.pointer, dout: a.dNormed.pointer, inp: inp, mean: mean, rstd: rstd,
                          rows: rows)
    }
}

extension ModelConfig {
    /// The rotary inverse frequencies: θ^(−2i/headSize), rescaled as transformers' "llama3" rope type when `ropeScaling` is set.
    var rotaryInverseFrequencies: [Double] {
        let standard = RotaryTable.standardInverseFrequencies(headSize: headSize, theta: ropeTheta)
        guard let scaling = ropeScaling else { return standard }
        let original = Double(scaling.originalMaxPositions)
        let longestKeptWavelength = original / scaling.highFrequencyFactor
        let shortestStretchedWavelength = original / scaling.lowFrequencyFactor
        return standard.map { frequency in
            let wavelength = 2 * Double.pi / frequency
            if wavelength < longestKeptWavelength { return frequency }
            if wavelength > shortestStretchedWavelength { return frequency / scaling.factor }
            let smooth = (original / wavelength - scaling.lowFrequencyFactor)
                / (scaling.highFrequencyFactor - scaling.lowFrequencyFactor)
            return (1 - smooth) * frequency / scaling.factor + smooth * frequency
        }
    }
}
