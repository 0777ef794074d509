#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Rows per thread chunk below which threading costs more than the exp work.
private func swigluMinimumRows(hidden: Int) -> Int { max(1, 16_384 / max(1, hidden)) }

/// The SwiGLU gate of Llama-family MLPs: out[r, i] = silu(gate[r, i]) · up[r, i], silu(x) = x·σ(x).
/// inp [rows, 2·hidden] holds gate | up per row (the fused gate_proj/up_proj product); out is [rows, hidden].
public func swigluForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, rows: Int, hidden: Int,
                          parallel: Parallel) {
    parallel.forEachChunk(of: rows, minimumChunk: swigluMinimumRows(hidden: hidden)) { rowRange in
        for r in rowRange {
            let gate = inp + r * 2 * hidden
            let up = gate + hidden
            let y = out + r * hidden
            for i in 0..<hidden {
                let x = gate[i]
                y[i] = x / (1 + expf(-x)) * up[i]
            }
        }
    }
}

/// Backward of `swigluForward`, accumulating into dinp [rows, 2·hidden]:
/// dgate += dout·up·σ(g)·(1 + g·(1 − σ(g)));  dup += dout·silu(g).
public func swigluBackward(dinp: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, dout: UnsafePointer<Float>,
                           rows: Int, hidden: Int, parallel: Parallel) {
    parallel.forEachChunk(of: rows, minimumChunk: swigluMinimumRows(hidden: hidden)) { rowRange in
        for r in rowRange {
            let gate = inp + r * 2 * hidden
            let up = gate + hidden
            let dgate = dinp + r * 2 * hidden
            let dup = dgate + hidden
            let g = dout + r * hidden
            for i in 0..<hidden {
                let x = gate[i]
                let sigmoid = 1 / (1 + expf(-x))
                dgate[i] += g[i] * up[i] * sigmoid * (1 + x * (1 - sigmoid))
                dup[i] += g[i] * x * sigmoid
            }
        }
    }
}
