import Kernels

/// Allocates `count` zeroed floats aligned to 64 bytes (a cache line, and enough for any SIMD width).
func allocateAlignedFloats(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
    let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
    let floats = raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 1))
    return UnsafeMutableBufferPointer(start: floats, count: count)
}

/// Frees a buffer made by `allocateAlignedFloats`.
func deallocateAlignedFloats(_ buffer: UnsafeMutableBufferPointer<Float>) {
    buffer.baseAddress.map { UnsafeMutableRawPointer($0).deallocate() }
}

/// A growable aligned float buffer for activations. Growing discards the contents, so callers reserve before writing.
final class ScratchBuffer {
    private var storage = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)

    /// Makes room for at least `count` floats (reallocating only when the current capacity is too small).
    func reserve(_ count: Int) {
        guard count > storage.count || storage.baseAddress == nil else { return }
        deallocateAlignedFloats(storage)
        storage = allocateAlignedFloats(count)
    }

    var pointer: UnsafeMutablePointer<Float> { storage.baseAddress! }

    /// Sets the first `count` floats to zero (backward kernels accumulate into their outputs).
    func zero(_ count: Int) { pointer.update(repeating: 0, count: count) }

    deinit { deallocateAlignedFloats(storage) }
}

/// Pointers to one transformer block's saved activations for the current batch shape.
struct BlockActivations {
    /// Block input (the residual stream) and output (the next block's input).
    let input, output: UnsafeMutablePointer<Float>
    /// Attention norm statistics (the mean is unused by RMSNorm) and output; `norm1` and `norm2` are one buffer shared
    /// by every block (each is read by one product right after it is written), so backward recomputes them.
    let norm1, norm1Mean, norm1Rstd: UnsafeMutablePointer<Float>
    /// q|k|v projection output [rows, qkvWidth], q and k rotated when the positions are rotary.
    let qkv: UnsafeMutablePointer<Float>
    /// Per query row, the log-sum-exp of its attention scores [batch, heads, length] (backward rebuilds the probabilities).
    let attentionLogSumExp: UnsafeMutablePointer<Float>
    /// Attention output before the output projection [rows, heads·headSize].
    let attentionOutput: UnsafeMutablePointer<Float>
    /// Residual stream after the attention sub-block [rows, C].
    let afterAttention: UnsafeMutablePointer<Float>
    let norm2, norm2Mean, norm2Rstd: UnsafeMutablePointer<Float>
    /// The MLP's first product [rows, mlpInputWidth] (up, or gate|up) and its activation [rows, intermediate]; the
    /// activation is shared by every block and recomputed from `mlpInput` in backward.
    let mlpInput, mlpActivation: UnsafeMutablePointer<Float>
}

/// All activation memory of a model, sized for the current (count, length) and reused across calls.
///
/// What is kept follows `Keeping`. The norm outputs and the MLP activation always have one slot: backward recomputes
/// them (a norm or an elementwise function per block, ~1% of a step) instead of keeping 3 of the 15 floats per row and
/// layer that a GPT-2 block would store.
final class ActivationStore {
    /// How much of a forward stays for backward.
    enum Keeping {
        /// One block slot shared by all blocks and a residual stream alternating between two slots: what inference
        /// needs, nothing for backward.
        case oneLayer
        /// Every block's own slot: backward reads each block's saved activations.
        case everyLayer
        /// Gradient checkpointing: the residual stream entering every block, and one block slot that backward fills
        /// again by rerunning each block's forward from its input (the same kernels on the same input, so the same bits).
        case blockInputs
    }

    let config: ModelConfig
    private(set) var count = 0
    private(set) var length = 0
    private(set) var keeping = Keeping.oneLayer

    var rows: Int { count * length }
    var attentionShape: AttentionShape {
        AttentionShape(batch: count, seqLen: length, heads: config.heads, keyValueHeads: config.keyValueHeads,
                       headSize: config.headSize)
    }

    // Trunk (forward).
    private let stream = ScratchBuffer()
    private let normed = ScratchBuffer()
    private let norm1Mean = ScratchBuffer(), norm1Rstd = ScratchBuffer()
    private let qkv = ScratchBuffer()
    private let attentionLogSumExp = ScratchBuffer()
    private let attentionOutput = ScratchBuffer()
    private let afterAttention = ScratchBuffer()
    private let norm2Mean = ScratchBuffer(), norm2Rstd = ScratchBuffer()
    private let mlpInput = ScratchBuffer(), mlpActivation = ScratchBuffer()
    /// Output of an output projection before it is added to the residual stream [rows, C]; never needed again, so shared.
    let projection = ScratchBuffer()

    // Trunk (backward), each [rows, width].
    let dResidual = ScratchBuffer()
    let dNormed = ScratchBuffer()
    let dAttentionOutput = ScratchBuffer()
    let dQKV = ScratchBuffer()
    let dMLPInput = ScratchBuffer(), dMLPActivation = ScratchBuffer()

    // LM head over the compacted scored rows: the final norm's input rows, its output, statistics and per-row results.
    let headInput = ScratchBuffer()
    let headNormed = ScratchBuffer(), headMean = ScratchBuffer(), headRstd = ScratchBuffer()
    let headLogProbs = ScratchBuffer(), headLogSumExp = ScratchBuffer(), headLogitSums = ScratchBuffer()
    let headEntropies = ScratchBuffer(), headLogSumSquaredProbs = ScratchBuffer()
    /// Index of each scored row's largest logit.
    var headArgmaxes: [Int32] = []
    /// Logits (and in backward their gradient) of one chunk of rows [chunkRows, vocab].
    let chunkLogits = ScratchBuffer(), chunkDLogits = ScratchBuffer()
    let dHeadNormed = ScratchBuffer(), dHeadInput = ScratchBuffer(), headDLogProbs = ScratchBuffer()

    init(config: ModelConfig) { self.config = config }

    private var storedLayers: Int { keeping == .everyLayer ? config.layers : 1 }
    private var streamSlots: Int { keeping == .oneLayer ? 2 : config.layers + 1 }
    private var attentionSize: Int { attentionShape.logSumExpCount }

    /// Sizes the trunk buffers for a batch of `count` sequences of `length` tokens.
    func prepareForward(count: Int, length: Int, keeping: Keeping) {
        self.count = count
        self.length = length
        self.keeping = keeping
        let (rows, C, layers) = (count * length, config.channels, storedLayers)
        stream.reserve(streamSlots * rows * C)
        afterAttention.reserve(layers * rows * C)
        normed.reserve(rows * C)
        for buffer in [norm1Mean, norm1Rstd, norm2Mean, norm2Rstd] { buffer.reserve(layers * rows) }
        qkv.reserve(layers * rows * config.qkvWidth)
        attentionLogSumExp.reserve(layers * attentionSize)
        attentionOutput.reserve(layers * rows * config.attentionWidth)
        mlpInput.reserve(layers * rows * config.mlpInputWidth)
        mlpActivation.reserve(rows * config.intermediateSize)
        projection.reserve(rows * C)
    }

    /// Sizes the trunk's backward scratch for the prepared shape.
    func prepareBackward() {
        let (rows, C) = (self.rows, config.channels)
        for buffer in [dResidual, dNormed] { buffer.reserve(rows * C) }
        dAttentionOutput.reserve(rows * config.attentionWidth)
        dQKV.reserve(rows * config.qkvWidth)
        dMLPInput.reserve(rows * config.mlpInputWidth)
        dMLPActivation.reserve(rows * config.intermediateSize)
    }

    /// Sizes the LM-head buffers for `scoredRows` rows processed `chunkRows` at a time.
    func prepareHead(scoredRows: Int, chunkRows: Int, forBackward: Bool) {
        let C = config.channels
        for buffer in [headInput, headNormed] { buffer.reserve(scoredRows * C) }
        for buffer in [headMean, headRstd, headLogProbs, headLogSumExp, headLogitSums, headEntropies, headLogSumSquaredProbs] {
            buffer.reserve(scoredRows)
        }
        headArgmaxes = [Int32](repeating: 0, count: scoredRows)
        chunkLogits.reserve(chunkRows * config.vocabSize)
        if forBackward {
            chunkDLogits.reserve(chunkRows * config.vocabSize)
            for buffer in [dHeadNormed, dHeadInput] { buffer.reserve(scoredRows * C) }
            headDLogProbs.reserve(scoredRows)
        }
    }

    /// The residual stream entering block `layer` (`layer == config.layers` is the final output).
    func residualStream(_ layer: Int) -> UnsafeMutablePointer<Float> {
        stream.pointer + (layer % streamSlots) * rows * config.channels
    }

    /// The saved activations of block `layer`.
    func block(_ layer: Int) -> BlockActivations {
        let slot = keeping == .everyLayer ? layer : 0
        let (rows, C) = (self.rows, config.channels)
        return BlockActivations(
            input: residualStream(layer),
            output: residualStream(layer + 1),
            norm1: normed.pointer,
            norm1Mean: norm1Mean.pointer + slot * rows,
            norm1Rstd: norm1Rstd.pointer + slot * rows,
            qkv: qkv.pointer + slot * rows * config.qkvWidth,
            attentionLogSumExp: attentionLogSumExp.pointer + slot * attentionSize,
            attentionOutput: attentionOutput.pointer + slot * rows * config.attentionWidth,
            afterAttention: afterAttention.pointer + slot * rows * C,
            norm2: normed.pointer,
            norm2Mean: norm2Mean.pointer + slot * rows,
            norm2Rstd: norm2Rstd.pointer + slot * rows,
            mlpInput: mlpInput.pointer + slot * rows * config.mlpInputWidth,
            mlpActivation: mlpActivation.pointer)
    }
}
