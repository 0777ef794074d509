import Foundation
import Kernels
import SeededRandom

/// A GPT-2-architecture language model on the CPU: learned position embeddings, pre-LN blocks
/// (ln_1 → causal self-attention → residual; ln_2 → MLP with tanh-GELU → residual), final ln_f, LM head tied to wte,
/// no dropout. All parameters live in one flat 64-byte-aligned buffer (and all gradients in another) laid out by
/// `ParameterLayout`; activations are sized for the batch shape and reused across calls.
public final class GPT2Model {
    public let config: GPT2Config
    public let layout: ParameterLayout
    public let tensors: [ParameterTensor]
    public let parameterCount: Int
    /// ONE flat buffer of `parameterCount` floats.
    public private(set) var parameters: UnsafeMutableBufferPointer<Float>
    /// ONE flat buffer of `parameterCount` floats, or empty when the model is not trainable.
    public private(set) var gradients: UnsafeMutableBufferPointer<Float>
    public let trainable: Bool
    /// Threads the kernels may use.
    public let parallel: Parallel

    /// Rows of the LM head computed at once, so at most `lmHeadChunkRows × vocabSize` logits are alive.
    public static let lmHeadChunkRows = 128

    private let activations: ActivationStore
    private let tensorIndex: [String: Int]
    /// The batch and scored positions of the last training forward, which `backward` differentiates.
    private var pendingBackward: (batch: SequenceBatch, scored: ScoredPositions)?

    /// Parameters start zeroed; call `initializeRandomly(seed:)`, `copyParameters(from:)` or load weights.
    /// The config must be valid (check with `GPT2Config.validate()` first).
    public init(config: GPT2Config, trainable: Bool, parallel: Parallel) {
        do { try config.validate() } catch { preconditionFailure("\(error)") }
        self.config = config
        self.layout = ParameterLayout(config: config)
        self.tensors = layout.tensors
        self.parameterCount = layout.parameterCount
        self.trainable = trainable
        self.parallel = parallel
        self.parameters = allocateAlignedFloats(layout.parameterCount)
        self.gradients = trainable ? allocateAlignedFloats(layout.parameterCount)
                                   : UnsafeMutableBufferPointer(start: nil, count: 0)
        self.activations = ActivationStore(config: config)
        self.tensorIndex = Dictionary(uniqueKeysWithValues: layout.tensors.enumerated().map { ($1.name, $0) })
    }

    deinit {
        deallocateAlignedFloats(parameters)
        deallocateAlignedFloats(gradients)
    }

    public func tensor(named name: String) -> ParameterTensor? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// GPT-2's initialization (as Hugging Face's `_init_weights`): weights and embeddings N(0, 0.02), the residual
    /// projections (`c_proj.weight`) N(0, 0.02/√(2·layers)), LayerNorm weights 1, biases 0. Deterministic in `seed`.
    public func initializeRandomly(seed: UInt64) {
        var normal = NormalGenerator(seed: seed)
        let projectionStd = 0.02 / Double(2 * config.layers).squareRoot()
        for tensor in tensors {
            let values = UnsafeMutableBufferPointer(rebasing: parameters[tensor.range])
            if tensor.shape.count == 1 {
                // The only 1-D weights are LayerNorm gains.
                values.update(repeating: tensor.name.hasSuffix(".weight") ? 1 : 0)
            } else {
                let std = tensor.name.hasSuffix(".c_proj.weight") ? projectionStd : 0.02
                for index in values.indices { values[index] = Float(std * normal.next()) }
            }
        }
    }

    /// Copies all parameters of a model with the same config (the reference model is a snapshot of the policy).
    public func copyParameters(from other: GPT2Model) {
        precondition(other.config == config, "copyParameters needs equal configs (\(other.config) vs \(config))")
        parameters.baseAddress!.update(from: other.parameters.baseAddress!, count: parameterCount)
    }

    public func zeroGradients() {
        gradients.update(repeating: 0)
    }

    // MARK: Forward

    /// Forward; with `training: true` keeps activations for `backward`; with false keeps none beyond one layer
    /// (frozen reference). Per sequence: the sum of completion-token log-probs (token t predicted from position t−1,
    /// where scoreMask[b,t] != 0), their count, and the sum over those positions of the mean logit.
    /// Only scored positions go through ln_f and the LM head, `lmHeadChunkRows` rows at a time.
    /// The batch must be valid (`SequenceBatch.validate(for:)`).
    public func score(_ batch: SequenceBatch, training: Bool) -> SequenceScores {
        precondition(!training || trainable, "score(training: true) needs a model created with trainable: true")
        requireValid(batch)
        pendingBackward = nil
        runTrunk(batch, keepAllLayers: training)

        let scored = ScoredPositions(batch)
        let a = activations
        let V = config.vocabSize
        a.prepareHead(scoredRows: scored.count, chunkRows: Self.lmHeadChunkRows, forBackward: training)
        normalizeScoredRows(scored)
        scored.targets.withUnsafeBufferPointer { targets in
            forEachHeadChunk(scoredRows: scored.count) { start, rows in
                computeChunkLogits(start: start, rows: rows)
                logSoftmaxGatherForward(logProbs: a.headLogProbs.pointer + start, logSumExp: a.headLogSumExp.pointer + start,
                                        logitSums: a.headLogitSums.pointer + start, logits: a.chunkLogits.pointer,
                                        targets: targets.baseAddress! + start, rows: rows, vocab: V, parallel: parallel)
            }
        }

        var logProbSums = [Double](repeating: 0, count: batch.count)
        var tokenCounts = [Int](repeating: 0, count: batch.count)
        var meanLogitSums = [Double](repeating: 0, count: batch.count)
        for (i, sequence) in scored.sequences.enumerated() {
            logProbSums[sequence] += Double(a.headLogProbs.pointer[i])
            tokenCounts[sequence] += 1
            meanLogitSums[sequence] += Double(a.headLogitSums.pointer[i]) / Double(V)
        }
        if training { pendingBackward = (batch, scored) }
        return SequenceScores(logProbSums: logProbSums.map(Float.init), tokenCounts: tokenCounts,
                              meanLogitSums: meanLogitSums)
    }

    /// Full logits [count·length, vocab], row-major, for every position. For tests and debugging only: unlike
    /// `score` it materializes the whole logits matrix. Discards the activations of a previous training forward.
    public func logits(_ batch: SequenceBatch) -> [Float] {
        requireValid(batch)
        pendingBackward = nil
        runTrunk(batch, keepAllLayers: false)
        let (rows, C, V) = (activations.rows, config.channels, config.vocabSize)
        // The c_proj scratch is free once the trunk has run; it holds ln_f's output here.
        let normed = activations.projection.pointer
        layerNormForward(out: normed, mean: nil, rstd: nil, inp: activations.residualStream(config.layers),
                         weight: parameter(layout.finalNormWeight), bias: parameter(layout.finalNormBias),
                         rows: rows, dim: C, epsilon: config.layerNormEpsilon, parallel: parallel)
        return [Float](unsafeUninitializedCapacity: rows * V) { buffer, initialized in
            matmulForward(out: buffer.baseAddress!, inp: normed, weight: parameter(layout.tokenEmbedding), bias: nil,
                          rows: rows, inDim: C, outDim: V, parallel: parallel)
            initialized = rows * V
        }
    }

    private func requireValid(_ batch: SequenceBatch) {
        do { try batch.validate(for: config) } catch { preconditionFailure("\(error)") }
    }

    private func parameter(_ offset: Int) -> UnsafeMutablePointer<Float> { parameters.baseAddress! + offset }
    private func gradient(_ offset: Int) -> UnsafeMutablePointer<Float> { gradients.baseAddress! + offset }

    /// Embeddings and all transformer blocks; leaves the final residual stream in `residualStream(layers)`.
    private func runTrunk(_ batch: SequenceBatch, keepAllLayers: Bool) {
        activations.prepareForward(count: batch.count, length: batch.length, keepAllLayers: keepAllLayers)
        batch.tokens.withUnsafeBufferPointer { tokens in
            embeddingForward(out: activations.residualStream(0), tokens: tokens.baseAddress!,
                             tokenTable: parameter(layout.tokenEmbedding), positionTable: parameter(layout.positionEmbedding),
                             batch: batch.count, seqLen: batch.length, dim: config.channels)
        }
        for layer in 0 ..< config.layers { forwardBlock(layer) }
    }

    private func forwardBlock(_ layer: Int) {
        let p = layout.blocks[layer]
        let s = activations.block(layer)
        let (rows, C, epsilon) = (activations.rows, config.channels, config.layerNormEpsilon)
        let projection = activations.projection.pointer

        layerNormForward(out: s.ln1, mean: s.ln1Mean, rstd: s.ln1Rstd, inp: s.input, weight: parameter(p.ln1Weight),
                         bias: parameter(p.ln1Bias), rows: rows, dim: C, epsilon: epsilon, parallel: parallel)
        matmulForward(out: s.qkv, inp: s.ln1, weight: parameter(p.attentionWeight), bias: parameter(p.attentionBias),
                      rows: rows, inDim: C, outDim: 3 * C, parallel: parallel)
        attentionForward(out: s.attentionOutput, att: s.attentionProbabilities, qkv: s.qkv, batch: activations.count,
                         seqLen: activations.length, channels: C, heads: config.heads, parallel: parallel)
        matmulForward(out: projection, inp: s.attentionOutput, weight: parameter(p.attentionProjectionWeight),
                      bias: parameter(p.attentionProjectionBias), rows: rows, inDim: C, outDim: C, parallel: parallel)
        residualForward(out: s.afterAttention, a: s.input, b: projection, count: rows * C)

        layerNormForward(out: s.ln2, mean: s.ln2Mean, rstd: s.ln2Rstd, inp: s.afterAttention, weight: parameter(p.ln2Weight),
                         bias: parameter(p.ln2Bias), rows: rows, dim: C, epsilon: epsilon, parallel: parallel)
        matmulForward(out: s.fcPreActivation, inp: s.ln2, weight: parameter(p.fcWeight), bias: parameter(p.fcBias),
                      rows: rows, inDim: C, outDim: 4 * C, parallel: parallel)
        geluForward(out: s.fcActivation, inp: s.fcPreActivation, count: rows * 4 * C, parallel: parallel)
        matmulForward(out: projection, inp: s.fcActivation, weight: parameter(p.mlpProjectionWeight),
                      bias: parameter(p.mlpProjectionBias), rows: rows, inDim: 4 * C, outDim: C, parallel: parallel)
        residualForward(out: s.output, a: s.afterAttention, b: projection, count: rows * C)
    }

    /// Gathers the final residual rows of the scored positions into `headInput` and applies ln_f to them.
    private func normalizeScoredRows(_ scored: ScoredPositions) {
        let a = activations
        let C = config.channels
        let final = a.residualStream(config.layers)
        for (i, row) in scored.rows.enumerated() {
            (a.headInput.pointer + i * C).update(from: final + row * C, count: C)
        }
        layerNormForward(out: a.headNormed.pointer, mean: a.headMean.pointer, rstd: a.headRstd.pointer,
                         inp: a.headInput.pointer, weight: parameter(layout.finalNormWeight),
                         bias: parameter(layout.finalNormBias), rows: scored.count, dim: C,
                         epsilon: config.layerNormEpsilon, parallel: parallel)
    }

    /// Calls `body(start, rows)` for consecutive chunks of at most `lmHeadChunkRows` scored rows.
    private func forEachHeadChunk(scoredRows: Int, _ body: (_ start: Int, _ rows: Int) -> Void) {
        for start in stride(from: 0, to: scoredRows, by: Self.lmHeadChunkRows) {
            body(start, min(Self.lmHeadChunkRows, scoredRows - start))
        }
    }

    /// chunkLogits[r, :] = wte · headNormed[start + r, :] (the tied LM head).
    private func computeChunkLogits(start: Int, rows: Int) {
        matmulForward(out: activations.chunkLogits.pointer, inp: activations.headNormed.pointer + start * config.channels,
                      weight: parameter(layout.tokenEmbedding), bias: nil, rows: rows, inDim: config.channels,
                      outDim: config.vocabSize, parallel: parallel)
    }

    // MARK: Backward

    /// Backward of Σ_b dLogProbSums[b] · logProbSums[b] for the last training forward; ACCUMULATES into `gradients`.
    public func backward(dLogProbSums: [Float]) {
        guard let (batch, scored) = pendingBackward else {
            preconditionFailure("backward(dLogProbSums:) needs a preceding score(_:training: true) on this model")
        }
        precondition(dLogProbSums.count == batch.count,
                     "backward got \(dLogProbSums.count) gradients for a batch of \(batch.count) sequences")
        // With nothing scored every gradient is exactly zero.
        guard scored.count > 0 else { return }
        let a = activations
        let (C, V) = (config.channels, config.vocabSize)
        a.prepareBackward()

        // LM head, chunk by chunk: recompute the logits, get dlogits, backprop into wte and ln_f's output.
        for (i, sequence) in scored.sequences.enumerated() { a.headDLogProbs.pointer[i] = dLogProbSums[sequence] }
        a.dHeadNormed.zero(scored.count * C)
        scored.targets.withUnsafeBufferPointer { targets in
            forEachHeadChunk(scoredRows: scored.count) { start, rows in
                computeChunkLogits(start: start, rows: rows)
                logSoftmaxGatherBackward(dlogits: a.chunkDLogits.pointer, dLogProbs: a.headDLogProbs.pointer + start,
                                         logits: a.chunkLogits.pointer, logSumExp: a.headLogSumExp.pointer + start,
                                         targets: targets.baseAddress! + start, rows: rows, vocab: V, parallel: parallel)
                matmulBackward(dinp: a.dHeadNormed.pointer + start * C, dweight: gradient(layout.tokenEmbedding), dbias: nil,
                               dout: a.chunkDLogits.pointer, inp: a.headNormed.pointer + start * C,
                               weight: parameter(layout.tokenEmbedding), rows: rows, inDim: C, outDim: V, parallel: parallel)
            }
        }
        a.dHeadInput.zero(scored.count * C)
        layerNormBackward(dinp: a.dHeadInput.pointer, dweight: gradient(layout.finalNormWeight),
                          dbias: gradient(layout.finalNormBias), dout: a.dHeadNormed.pointer, inp: a.headInput.pointer,
                          weight: parameter(layout.finalNormWeight), mean: a.headMean.pointer, rstd: a.headRstd.pointer,
                          rows: scored.count, dim: C, parallel: parallel)

        // Scatter into the gradient of the final residual stream (each trunk row is scored at most once).
        let dResidual = a.dResidual.pointer
        a.dResidual.zero(a.rows * C)
        for (i, row) in scored.rows.enumerated() {
            (dResidual + row * C).update(from: a.dHeadInput.pointer + i * C, count: C)
        }

        for layer in (0 ..< config.layers).reversed() { backwardBlock(layer) }
        batch.tokens.withUnsafeBufferPointer { tokens in
            embeddingBackward(dTokenTable: gradient(layout.tokenEmbedding), dPositionTable: gradient(layout.positionEmbedding),
                              dout: dResidual, tokens: tokens.baseAddress!, batch: batch.count, seqLen: batch.length,
                              dim: C)
        }
    }

    /// Turns `dResidual` from the gradient of block `layer`'s output into that of its input, accumulating the block's
    /// parameter gradients. A residual connection passes its gradient through unchanged, so each LayerNorm backward
    /// adds its branch's contribution into `dResidual` in place.
    private func backwardBlock(_ layer: Int) {
        let p = layout.blocks[layer]
        let s = activations.block(layer)
        let a = activations
        let (rows, C) = (a.rows, config.channels)
        let dResidual = a.dResidual.pointer

        // MLP branch: output = afterAttention + c_proj(gelu(c_fc(ln_2(afterAttention)))).
        a.dFCActivation.zero(rows * 4 * C)
        matmulBackward(dinp: a.dFCActivation.pointer, dweight: gradient(p.mlpProjectionWeight),
                       dbias: gradient(p.mlpProjectionBias), dout: dResidual, inp: s.fcActivation,
                       weight: parameter(p.mlpProjectionWeight), rows: rows, inDim: 4 * C, outDim: C, parallel: parallel)
        a.dFCPreActivation.zero(rows * 4 * C)
        geluBackward(dinp: a.dFCPreActivation.pointer, inp: s.fcPreActivation, dout: a.dFCActivation.pointer,
                     count: rows * 4 * C, parallel: parallel)
        a.dNormed.zero(rows * C)
        matmulBackward(dinp: a.dNormed.pointer, dweight: gradient(p.fcWeight), dbias: gradient(p.fcBias),
                       dout: a.dFCPreActivation.pointer, inp: s.ln2, weight: parameter(p.fcWeight),
                       rows: rows, inDim: C, outDim: 4 * C, parallel: parallel)
        layerNormBackward(dinp: dResidual, dweight: gradient(p.ln2Weight), dbias: gradient(p.ln2Bias),
                          dout: a.dNormed.pointer, inp: s.afterAttention, weight: parameter(p.ln2Weight),
                          mean: s.ln2Mean, rstd: s.ln2Rstd, rows: rows, dim: C, parallel: parallel)

        // Attention branch: afterAttention = input + c_proj(attention(c_attn(ln_1(input)))).
        a.dAttentionOutput.zero(rows * C)
        matmulBackward(dinp: a.dAttentionOutput.pointer, dweight: gradient(p.attentionProjectionWeight),
                       dbias: gradient(p.attentionProjectionBias), dout: dResidual, inp: s.attentionOutput,
                       weight: parameter(p.attentionProjectionWeight), rows: rows, inDim: C, outDim: C, parallel: parallel)
        a.dQKV.zero(rows * 3 * C)
        attentionBackward(dqkv: a.dQKV.pointer, scratch: a.attentionScratch.pointer, dout: a.dAttentionOutput.pointer,
                          qkv: s.qkv, att: s.attentionProbabilities, batch: a.count, seqLen: a.length, channels: C,
                          heads: config.heads, parallel: parallel)
        a.dNormed.zero(rows * C)
        matmulBackward(dinp: a.dNormed.pointer, dweight: gradient(p.attentionWeight), dbias: gradient(p.attentionBias),
                       dout: a.dQKV.pointer, inp: s.ln1, weight: parameter(p.attentionWeight),
                       rows: rows, inDim: C, outDim: 3 * C, parallel: parallel)
        layerNormBackward(dinp: dResidual, dweight: gradient(p.ln1Weight), dbias: gradient(p.ln1Bias),
                          dout: a.dNormed.pointer, inp: s.input, weight: parameter(p.ln1Weight),
                          mean: s.ln1Mean, rstd: s.ln1Rstd, rows: rows, dim: C, parallel: parallel)
    }
}
