import SeededRandom
import Testing
@testable import Kernels

// Forward is exact (one fp32 addition). Backward sums a few fp32 values: 1e-6 relative.

private let embeddingShapes: [(batch: Int, seqLen: Int, dim: Int, vocab: Int)] = [(1, 1, 1, 2), (2, 3, 5, 4), (3, 4, 17, 3), (2, 5, 33, 50)]

@Test(arguments: embeddingShapes.indices)
func embeddingForwardAddsTokenAndPositionRows(shapeIndex: Int) {
    let (batch, seqLen, dim, vocab) = embeddingShapes[shapeIndex]
    var random = SplitMix64(seed: 1200 + UInt64(shapeIndex))
    let tokens = TestBuffer(random.tokens(batch * seqLen, below: vocab))
    let tokenTable = TestBuffer(random.floats(vocab * dim)), positionTable = TestBuffer(random.floats(seqLen * dim))
    for withPositions in [true, false] {
        let out = TestBuffer(random.floats(batch * seqLen * dim))
        embeddingForward(out: out.pointer, tokens: tokens.pointer, tokenTable: tokenTable.pointer,
                         positionTable: withPositions ? positionTable.pointer : nil, batch: batch, seqLen: seqLen, dim: dim)
        var expected = [Float]()
        for row in 0..<(batch * seqLen) {
            let token = Int(tokens.values[row])
            for i in 0..<dim {
                expected.append(tokenTable.values[token * dim + i] + (withPositions ? positionTable.values[(row % seqLen) * dim + i] : 0))
            }
        }
        #expect(out.values == expected, "\(embeddingShapes[shapeIndex]) positions \(withPositions)")
    }
}

/// Few tokens over many positions, so repeated tokens must add up rather than overwrite each other.
@Test(arguments: embeddingShapes.indices)
func embeddingBackwardAccumulatesRepeatedTokens(shapeIndex: Int) {
    let (batch, seqLen, dim, vocab) = embeddingShapes[shapeIndex]
    var random = SplitMix64(seed: 1300 + UInt64(shapeIndex))
    let tokens = TestBuffer(random.tokens(batch * seqLen, below: vocab))
    let dout = TestBuffer(random.floats(batch * seqLen * dim))
    let startTokens = random.floats(vocab * dim), startPositions = random.floats(seqLen * dim)
    var expectedTokens = doubles(startTokens), expectedPositions = doubles(startPositions)
    for row in 0..<(batch * seqLen) {
        for i in 0..<dim {
            expectedTokens[Int(tokens.values[row]) * dim + i] += Double(dout.values[row * dim + i])
            expectedPositions[(row % seqLen) * dim + i] += Double(dout.values[row * dim + i])
        }
    }
    let dTokens = TestBuffer(startTokens), dPositions = TestBuffer(startPositions)
    embeddingBackward(dTokenTable: dTokens.pointer, dPositionTable: dPositions.pointer, dout: dout.pointer, tokens: tokens.pointer,
                      batch: batch, seqLen: seqLen, dim: dim)
    expectClose(dTokens.values, expectedTokens, relative: 1e-6, "dTokenTable \(embeddingShapes[shapeIndex])")
    expectClose(dPositions.values, expectedPositions, relative: 1e-6, "dPositionTable \(embeddingShapes[shapeIndex])")

    let dTokensOnly = TestBuffer(startTokens)
    embeddingBackward(dTokenTable: dTokensOnly.pointer, dPositionTable: nil, dout: dout.pointer, tokens: tokens.pointer,
                      batch: batch, seqLen: seqLen, dim: dim)
    #expect(dTokensOnly.values == dTokens.values)

    let dPositionsOnly = TestBuffer(startPositions)
    embeddingBackward(dTokenTable: nil, dPositionTable: dPositionsOnly.pointer, dout: dout.pointer, tokens: tokens.pointer,
                      batch: batch, seqLen: seqLen, dim: dim)
    #expect(dPositionsOnly.values == dPositions.values)
}
