#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Cosines and sines of rotary position embeddings (RoPE) for positions 0..<positions:
/// angle[t, i] = t · inverseFrequencies[i] for the headSize/2 frequencies, computed in Double and stored as Float.
public struct RotaryTable: Sendable {
    public let positions: Int
    /// Half the head size: the number of rotated pairs per head.
    public let pairs: Int
    /// [positions, pairs] each.
    let cosines: [Float]
    let sines: [Float]

    public init(inverseFrequencies: [Double], positions: Int) {
        self.positions = positions
        pairs = inverseFrequencies.count
        var cosines = [Float](), sines = [Float]()
        cosines.reserveCapacity(positions * pairs)
        sines.reserveCapacity(positions * pairs)
        for t in 0..<positions {
            for frequency in inverseFrequencies {
                let angle = Double(t) * frequency
                cosines.append(Float(cos(angle)))
                sines.append(Float(sin(angle)))
            }
        }
        self.cosines = cosines
        self.sines = sines
    }

    /// RoPE's standard frequencies θ^(−2i/headSize), i = 0..<headSize/2.
    public static func standardInverseFrequencies(headSize: Int, theta: Double) -> [Double] {
        (0..<headSize / 2).map { 1 / pow(theta, Double(2 * $0) / Double(headSize)) }
    }
}

/// Rotates, IN PLACE, `heads` consecutive head vectors of size 2·table.pairs at the start of every row of
/// x [batch, seqLen, rowStride] by the angles of the row's position firstPosition + t (Hugging Face's "rotate_half"
/// convention: element i pairs with element i + pairs): (a, b) → (a·cos − b·sin, b·cos + a·sin). A `firstPosition`
/// above 0 continues a sequence whose earlier positions are already in a key/value cache.
public func rotaryForward(_ x: UnsafeMutablePointer<Float>, table: RotaryTable, batch: Int, seqLen: Int, heads: Int,
                          rowStride: Int, firstPosition: Int = 0, parallel: Parallel) {
    rotate(x, table: table, batch: batch, seqLen: seqLen, heads: heads, rowStride: rowStride, firstPosition: firstPosition,
           direction: 1, parallel: parallel)
}

/// Backward of `rotaryForward`, IN PLACE on the gradient: a rotation's transpose is the rotation by −angle.
public func rotaryBackward(_ dx: UnsafeMutablePointer<Float>, table: RotaryTable, batch: Int, seqLen: Int, heads: Int,
                           rowStride: Int, parallel: Parallel) {
    rotate(dx, table: table, batch: batch, seqLen: seqLen, heads: heads, rowStride: rowStride, firstPosition: 0,
           direction: -1, parallel: parallel)
}

/// Rotation by direction·angle of positions firstPosition ..< firstPosition + seqLen; direction is +1 (forward) or
/// −1 (its transpose).
private func rotate(_ x: UnsafeMutablePointer<Float>, table: RotaryTable, batch: Int, seqLen: Int, heads: Int,
                    rowStride: Int, firstPosition: Int, direction: Float, parallel: Parallel) {
    precondition(firstPosition >= 0 && firstPosition + seqLen <= table.positions,
                 "rotary: positions \(firstPosition)..<\(firstPosition + seqLen), the table has \(table.positions)")
    let pairs = table.pairs
    precondition(heads * 2 * pairs <= rowStride, "rotary: \(heads) heads of size \(2 * pairs) exceed the row stride \(rowStride)")
    table.cosines.withUnsafeBufferPointer { cosines in
        table.sines.withUnsafeBufferPointer { sines in
            parallel.forEachChunk(of: batch * seqLen, minimumChunk: minimumRows(perRowWork: 6 * heads * pairs)) { rowRange in
                for row in rowRange {
                    let t = firstPosition + row % seqLen
                    let cosine = cosines.baseAddress! + t * pairs
                    let sine = sines.baseAddress! + t * pairs
                    for h in 0..<heads {
                        let first = x + row * rowStride + h * 2 * pairs
                        let second = first + pairs
                        for i in 0..<pairs {
                            let (a, b) = (first[i], second[i])
                            let s = direction * sine[i]
                            first[i] = a * cosine[i] - b * s
                            second[i] = b * cosine[i] + a * s
                        }
                    }
                }
            }
        }
    }
}
