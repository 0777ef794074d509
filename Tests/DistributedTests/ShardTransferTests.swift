import Testing
import MPI
@testable import Distributed

@Suite(.serialized) struct ShardTransferTests {
    /// On one rank the gather hands rank 0's own part to `consume` and the scatter reads it back in place.
    @Test func gatherAndScatterOnOneRankPassTheLocalPart() throws {
        let world = try Communicator.world()
        var values: [Float] = (0..<10).map { Float($0) }
        var consumed: [Float] = []
        try values.withUnsafeBufferPointer { local in
            try world.gatherOnRankZero(local, held: [0 ..< 10]) { consumed += $0 }
        }
        #expect(consumed == values)
        try values.withUnsafeMutableBufferPointer { local in
            try world.scatterFromRankZero(into: local, held: [0 ..< 10]) { range, destination in
                for (slot, index) in range.enumerated() { destination[slot] = Float(100 + index) }
            }
        }
        #expect(values == (100..<110).map { Float($0) })
    }

    @Test func piecesCutARangeIntoBoundedConsecutiveRanges() {
        let count = Communicator.transferPieceCount
        #expect(Communicator.pieces(of: 5 ..< 5).isEmpty)
        #expect(Communicator.pieces(of: 3 ..< 3 + 2 * count + 1) == [3 ..< 3 + count, 3 + count ..< 3 + 2 * count,
                                                                   3 + 2 * count ..< 4 + 2 * count])
    }
}
