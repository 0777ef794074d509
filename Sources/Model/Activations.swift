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
    let ln1, ln1Mean, ln1Rstd: UnsafeMutablePointer<Float>
    /// c_attn output [rows, 3C], q|k|v.
    let qkv: UnsafeMutablePointer<Float>
    /// Softmax probabilities [batch, heads, length, length].
    let attentionProbabilities: UnsafeMutablePointer<Float>
    /// Attention output before c_proj [rows, C].
    let attentionOutput: UnsafeMutablePointer<Float>
    /// Residual stream after the attention sub-block [rows, C].
    let afterAttention: UnsafeMutablePointer<Float>
    let ln2, ln2Mean, ln2Rstd: UnsafeMutablePointer<Float>
    /// c_fc output before and after GELU [rows, 4C].
    let fcPreActivation, fcActivation: UnsafeMutablePointer<Float>
}

/// All activation memory of a model, sized for the current (count, length) and reused across calls.
///
/// With `keepAllLayers` every block has its own slot (needed by backward); otherwise one slot is shared by all blocks
/// and the residual stream alternates between two slots, so inference keeps only what one layer needs.
final class ActivationStore {
    let config: GPT2Config
    private(set) var count = 0
    private(set) var length = 0
    private(set) var keepsAllLayers = false

    var rows: Int { count * length }

    // Trunk (forward).
    private let stream = ScratchBuffer()
    private let ln1 = ScratchBuffer(), ln1Mean = ScratchBuffer(), ln1Rstd = ScratchBuffer()
    private let qkv = ScratchBuffer()
    private let attentionProbabilities = ScratchBuffer()
    private let attentionOutput = ScratchBuffer()
    private let afterAttention = ScratchBuffer()
    private let ln2 = ScratchBuffer(), ln2Mean = ScratchBuffer(), ln2Rstd = ScratchBuffer()
    private let fcPreActivation = ScratchBuffer(), fcActivation = ScratchBuffer()
    /// Output of a c_proj before it is added to the residual stream [rows, C]; never needed again, so shared.
    let projection = ScratchBuffer()

    // Trunk (backward), each [rows, width]; the attention scratch is [batch, heads, length, length].
    let dResidual = ScratchBuffer()
    let dNormed = ScratchBuffer()
    let dAttentionOutput = ScratchBuffer()
    let dQKV = ScratchBuffer()
    let dFCPreActivation = ScratchBuffer(), dFCActivation = ScratchBuffer()
    let attentionScratch = ScratchBuffer()

    // LM head over the compacted scored rows: the ln_f input rows, ln_f output, statistics and per-row results.
    let headInput = ScratchBuffer()
    let headNormed = ScratchBuffer(), headMean = ScratchBuffer(), headRstd = ScratchBuffer()
    let headLogProbs = ScratchBuffer(), headLogSumExp = ScratchBuffer(), headLogitSums = ScratchBuffer()
    /// Logits (and in backward their gradient) of one chunk of rows [chunkRows, vocab].
    let chunkLogits = ScratchBuffer(), chunkDLogits = ScratchBuffer()
    let dHeadNormed = ScratchBuffer(), dHeadInput = ScratchBuffer(), headDLogProbs = ScratchBuffer()

    init(config: GPT2Config) { self.config = config }

    private var storedLayers: Int { keepsAllLayers ? config.layers : 1 }
    private var streamSlots: Int { keepsAllLayers ? config.layers + 1 : 2 }
    private var attentionSize: Int { count * config.heads * length * length }

    /// Sizes the trunk buffers for a batch of `count` sequences of `length` tokens.
    func prepareForward(count: Int, length: Int, keepAllLayers: Bool) {
        self.count = count
        self.length = length
        self.keepsAllLayers = keepAllLayers
        let (rows, C, layers) = (count * length, config.channels, storedLayers)
        stream.reserve(streamSlots * rows * C)
        for buffer in [ln1, attentionOutput, afterAttention, ln2] { buffer.reserve(layers * rows * C) }
        for buffer in [ln1Mean, ln1Rstd, ln2Mean, ln2Rstd] { buffer.reserve(layers * rows) }
        qkv.reserve(layers * rows * 3 * C)
        attentionProbabilities.reserve(layers * attentionSize)
        fcPreActivation.reserve(layers * rows * 4 * C)
        fcActivation.reserve(layers * rows * 4 * C)
        projection.reserve(rows * C)
    }

    /// Sizes the trunk's backward scratch for the prepared shape.
    func prepareBackward() {
        let (rows, C) = (self.rows, config.channels)
        for buffer in [dResidual, dNormed, dAttentionOutput] { buffer.reserve(rows * C) }
        dQKV.reserve(rows * 3 * C)
        dFCPreActivation.reserve(rows * 4 * C)
        dFCActivation.reserve(rows * 4 * C)
        attentionScratch.reserve(attentionSize)
    }

    /// Sizes the LM-head buffers for `scoredRows` rows processed `chunkRows` at a time.
    func prepareHead(scoredRows: Int, chunkRows: Int, forBackward: Bool) {
        let C = config.channels
        for buffer in [headInput, headNormed] { buffer.reserve(scoredRows * C) }
        for buffer in [headMean, headRstd, headLogProbs, headLogSumExp, headLogitSums] { buffer.reserve(scoredRows) }
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
        let slot = keepsAllLayers ? layer : 0
        let (rows, C) = (self.rows, config.channels)
        return BlockActivations(
            input: residualStream(layer),
            output: residualStream(layer + 1),
            ln1: ln1.pointer + slot * rows * C,
            ln1Mean: ln1Mean.pointer + slot * rows,
            ln1Rstd: ln1Rstd.pointer + slot * rows,
            qkv: qkv.pointer + slot * rows * 3 * C,
            attentionProbabilities: attentionProbabilities.pointer + slot * attentionSize,
            attentionOutput: attentionOutput.pointer + slot * rows * C,
            afterAttention: afterAttention.pointer + slot * rows * C,
            ln2: ln2.pointer + slot * rows * C,
            ln2Mean: ln2Mean.pointer + slot * rows,
            ln2Rstd: ln2Rstd.pointer + slot * rows,
            fcPreActivation: fcPreActivation.pointer + slot * rows * 4 * C,
            fcActivation: fcActivation.pointer + slot * rows * 4 * C)
    }
}
