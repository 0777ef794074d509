/// √(2/π), the GELU tanh-approximation scale.
private let geluScale = Float((2.0 / Double.pi).squareRoot())
private let geluCubic: Float = 0.044715
/// Elements per thread chunk: below this, threading costs more than the tanh work.
private let geluMinimumChunk = 16_384

/// GELU, tanh approximation (GPT-2 "gelu_new"): 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).
/// Eight elements at a time with the vector `tanh`; a chunk's last partial vector goes through the same code, so every
/// element gets the same value whatever the thread split.
public func geluForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int, parallel: Parallel) {
    parallel.forEachChunk(of: count, minimumChunk: geluMinimumChunk) { range in
        mapVectors(inp + range.lowerBound, out + range.lowerBound, count: range.count) { _, _, x in
            0.5 * x * (1 + tanh(geluScale * (x + geluCubic * x * x * x)))
        }
    }
}

/// dinp += GELU'(inp)·dout.
public func geluBackward(dinp: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, dout: UnsafePointer<Float>, count: Int, parallel: Parallel) {
    parallel.forEachChunk(of: count, minimumChunk: geluMinimumChunk) { range in
        let (start, upstream) = (range.lowerBound, dout + range.lowerBound)
        mapVectors(inp + start, dinp + start, count: range.count) { offset, lanes, x in
            let tanhU = tanh(geluScale * (x + geluCubic * x * x * x))
            let sech2 = 1 - tanhU * tanhU
            let derivative = 0.5 * (1 + tanhU) + 0.5 * x * sech2 * geluScale * (1 + 3 * geluCubic * x * x)
            return loadPartial(dinp + start + offset, count: lanes) + derivative * loadPartial(upstream + offset, count: lanes)
        }
    }
}
