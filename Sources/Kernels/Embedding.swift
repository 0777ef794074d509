/// out[b,t,:] = tokenTable[tokens[b,t],:] + positionTable[t,:]; a nil position table adds nothing.
/// Token ids must lie inside the table (the caller validates them against the vocabulary).
public func embeddingForward(out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>, tokenTable: UnsafePointer<Float>,
                             positionTable: UnsafePointer<Float>?, batch: Int, seqLen: Int, dim: Int) {
    for b in 0..<batch {
        for t in 0..<seqLen {
            let row = b * seqLen + t
            let token = Int(tokens[row])
            precondition(token >= 0, "embeddingForward: negative token id \(token) at row \(row)")
            let destination = out + row * dim
            let tokenRow = tokenTable + token * dim
            if let positionTable {
                residualForward(out: destination, a: tokenRow, b: positionTable + t * dim, count: dim)
            } else {
                destination.update(from: tokenRow, count: dim)
            }
        }
    }
}

/// dTokenTable[tokens[b,t],:] += dout[b,t,:];  dPositionTable[t,:] += dout[b,t,:]; a nil table (frozen) is skipped.
/// Serial: repeated tokens would make a parallel scatter race.
public func embeddingBackward(dTokenTable: UnsafeMutablePointer<Float>?, dPositionTable: UnsafeMutablePointer<Float>?,
                              dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>, batch: Int, seqLen: Int, dim: Int) {
    for b in 0..<batch {
        for t in 0..<seqLen {
            let row = b * seqLen + t
            let token = Int(tokens[row])
            precondition(token >= 0, "embeddingBackward: negative token id \(token) at row \(row)")
            let gradient = dout + row * dim
            if let dTokenTable {
                axpy(1, gradient, dTokenTable + token * dim, count: dim)
            }
            if let dPositionTable {
                axpy(1, gradient, dPositionTable + t * dim, count: dim)
            }
        }
    }
}
