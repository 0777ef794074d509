import Diagnostics
import MPI

/// Work that rank 0 alone did (`Communicator.onRankZero`) and that failed, raised on every rank: rank 0 broadcasts the
/// message, so all ranks throw this after the same collective call and the job can end cleanly instead of leaving
/// the other ranks waiting in their next one.
public struct RankZeroFailure: IdenticalOnEveryRank, CustomStringConvertible {
    /// The description of rank 0's error, the same on every rank.
    public let message: String
    /// The error rank 0 threw; nil on the other ranks, which learn only its message.
    public let underlying: (any Error)?

    public var description: String { message }
}

extension Communicator {
    /// Runs `work` on rank 0 only and shares the outcome: when it throws there, every rank throws a `RankZeroFailure`
    /// with its message (rank 0's also carries the error). For what only rank 0 touches: an unwritable output_dir, a
    /// damaged checkpoint.
    public func onRankZero(_ work: () throws -> Void) throws {
        var failure: (any Error)?
        var message: [UInt8] = []
        if rank == 0 {
            do {
                try work()
            } catch {
                failure = error
                let description = "\(error)"
                message = Array((description.isEmpty ? "\(type(of: error))" : description).utf8)
            }
        }
        if size > 1 {
            try broadcast(&message, root: 0)
        }
        if !message.isEmpty {
            throw RankZeroFailure(message: String(decoding: message, as: UTF8.self), underlying: failure)
        }
    }
}
