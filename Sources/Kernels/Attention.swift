#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Causal multi-head self-attention, llm.c layout.
/// qkv [batch, seqLen, 3·channels] is q|k|v with heads contiguous inside each; scale 1/√hs.
/// att [batch, heads, seqLen, seqLen] receives the softmax probabilities (row t: columns 0...t, the rest 0);
/// out [batch, seqLen, channels]. Threads split the (batch, head) pairs.
public func attentionForward(out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
                             batch: Int, seqLen: Int, channels: Int, heads: Int, parallel: Parallel) {
    precondition(heads > 0 && channels % heads == 0, "attentionForward: channels \(channels) not divisible by heads \(heads)")
    let headSize = channels / heads
    let rowStride = 3 * channels
    let scale = 1 / Float(headSize).squareRoot()
    parallel.forEachChunk(of: batch * heads) { pairs in
        for pair in pairs {
            let b = pair / heads
            let h = pair % heads
            let base = qkv + b * seqLen * rowStride + h * headSize
            for t in 0..<seqLen {
                let query = base + t * rowStride
                let probabilities = att + (pair * seqLen + t) * seqLen
                var maximum = -Float.infinity
                for t2 in 0...t {
                    let score = dot(query, base + t2 * rowStride + channels, count: headSize) * scale
                    probabilities[t2] = score
                    maximum = max(maximum, score)
                }
                var total: Float = 0
                for t2 in 0...t {
                    let e = expf(probabilities[t2] - maximum)
                    probabilities[t2] = e
                    total += e
                }
                let inverseTotal = 1 / total
                for t2 in 0...t {
                    probabilities[t2] *= inverseTotal
                }
                (probabilities + t + 1).update(repeating: 0, count: seqLen - t - 1)
                let output = out + (b * seqLen + t) * channels + h * headSize
                output.update(repeating: 0, count: headSize)
                for t2 in 0...t {
                    axpy(probabilities[t2], base + t2 * rowStride + 2 * channels, output, count: headSize)
                }
            }
        }
    }
}

/// Backward of `attentionForward`; ACCUMULATES into dqkv. scratch [batch, heads, seqLen, seqLen] is overwritten
/// with the gradients of the probabilities and then of the pre-softmax scores.
public func attentionBackward(dqkv: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                              qkv: UnsafePointer<Float>, att: UnsafePointer<Float>,
                              batch: Int, seqLen: Int, channels: Int, heads: Int, parallel: Parallel) {
    precondition(heads > 0 && channels % heads == 0, "attentionBackward: channels \(channels) not divisible by heads \(heads)")
    let headSize = channels / heads
    let rowStride = 3 * channels
    let scale = 1 / Float(headSize).squareRoot()
    parallel.forEachChunk(of: batch * heads) { pairs in
        for pair in pairs {
            let b = pair / heads
            let h = pair % heads
            let base = qkv + b * seqLen * rowStride + h * headSize
            let dbase = dqkv + b * seqLen * rowStride + h * headSize
            for t in 0..<seqLen {
                let probabilities = att + (pair * seqLen + t) * seqLen
                let gradients = scratch + (pair * seqLen + t) * seqLen
                let outputGradient = dout + (b * seqLen + t) * channels + h * headSize
                // through out = Σ att·v: gradient of each probability, and dv += att·dout
                for t2 in 0...t {
                    gradients[t2] = dot(outputGradient, base + t2 * rowStride + 2 * channels, count: headSize)
                    axpy(probabilities[t2], outputGradient, dbase + t2 * rowStride + 2 * channels, count: headSize)
                }
                // through the softmax: dscore = p·(dp − Σ p·dp)
                let weighted = dot(probabilities, gradients, count: t + 1)
                for t2 in 0...t {
                    gradients[t2] = probabilities[t2] * (gradients[t2] - weighted) * scale
                }
                (gradients + t + 1).update(repeating: 0, count: seqLen - t - 1)
                // through score = q·k·scale
                let query = base + t * rowStride
                let queryGradient = dbase + t * rowStride
                for t2 in 0...t {
                    axpy(gradients[t2], base + t2 * rowStride + channels, queryGradient, count: headSize)
                    axpy(gradients[t2], query, dbase + t2 * rowStride + channels, count: headSize)
                }
            }
        }
    }
}
