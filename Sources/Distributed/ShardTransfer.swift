import MPI

/// Moving a flat buffer that the ranks hold in parts (ZeRO's optimizer state) to and from rank 0, piece by piece, so
/// that rank 0 can write or read it as one checkpoint file whose layout does not depend on the rank count, without
/// ever holding it whole in memory.
extension Communicator {
    /// Floats per message: 16 MiB, what rank 0 stages at a time.
    static let transferPieceCount = 1 << 22

    /// Rank 0 gets the whole buffer, in order, through `consume`, in pieces; every rank passes the part it holds,
    /// `local`, which is `held[rank]` of the buffer. Each element is taken from the lowest rank holding it (with a
    /// replicated buffer, all from rank 0); the ranges must cover the buffer from 0 in rank order. Other ranks only
    /// send. Collective.
    public func gatherOnRankZero(_ local: UnsafeBufferPointer<Float>, held: [Range<Int>],
                                 consume: (UnsafeBufferPointer<Float>) throws -> Void) throws {
        precondition(held.count == size && held[rank].count == local.count, "gatherOnRankZero: \(held) for \(local.count) floats")
        var covered = 0
        let parts = held.map { range in
            defer { covered = max(covered, range.upperBound) }
            precondition(range.lowerBound <= covered, "gatherOnRankZero: \(held) leave a gap at \(covered)")
            return max(range.lowerBound, covered) ..< max(range.upperBound, covered)
        }
        func localPiece(_ piece: Range<Int>) -> UnsafeBufferPointer<Float> {
            UnsafeBufferPointer(rebasing: local[(piece.lowerBound - held[rank].lowerBound) ..< (piece.upperBound - held[rank].lowerBound)])
        }
        guard rank == 0 else {
            for piece in Self.pieces(of: parts[rank]) { try send(localPiece(piece), to: 0) }
            return
        }
        let staging = UnsafeMutableBufferPointer<Float>.allocate(capacity: Self.transferPieceCount)
        defer { staging.deallocate() }
        for (source, part) in parts.enumerated() {
            for piece in Self.pieces(of: part) {
                if source == 0 {
                    try consume(localPiece(piece))
                } else {
                    let received = UnsafeMutableBufferPointer(rebasing: staging[0 ..< piece.count])
                    try receive(into: received, from: source)
                    try consume(UnsafeBufferPointer(received))
                }
            }
        }
    }

    /// The reverse: every rank's `local` gets `held[rank]` of a buffer that only rank 0 can `read` (a range of it into
    /// a destination of that size), which rank 0 does piece by piece for the other ranks. Ranges may overlap (with a
    /// replicated buffer every rank gets all of it). Collective.
    public func scatterFromRankZero(into local: UnsafeMutableBufferPointer<Float>, held: [Range<Int>],
                                    read: (Range<Int>, UnsafeMutableBufferPointer<Float>) throws -> Void) throws {
        precondition(held.count == size && held[rank].count == local.count, "scatterFromRankZero: \(held) for \(local.count) floats")
        guard rank == 0 else {
            for piece in Self.pieces(of: held[rank]) {
                let start = piece.lowerBound - held[rank].lowerBound
                try receive(into: UnsafeMutableBufferPointer(rebasing: local[start ..< start + piece.count]), from: 0)
            }
            return
        }
        try read(held[0], local)
        let staging = UnsafeMutableBufferPointer<Float>.allocate(capacity: Self.transferPieceCount)
        defer { staging.deallocate() }
        for destination in 1 ..< size {
            for piece in Self.pieces(of: held[destination]) {
                let outgoing = UnsafeMutableBufferPointer(rebasing: staging[0 ..< piece.count])
                try read(piece, outgoing)
                try send(UnsafeBufferPointer(outgoing), to: destination)
            }
        }
    }

    /// `range` in consecutive pieces of at most `transferPieceCount` elements.
    static func pieces(of range: Range<Int>) -> [Range<Int>] {
        stride(from: range.lowerBound, to: range.upperBound, by: transferPieceCount).map {
            $0 ..< min($0 + transferPieceCount, range.upperBound)
        }
    }
}
