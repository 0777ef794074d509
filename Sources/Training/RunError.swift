import Diagnostics
import Distributed
import MPI

/// Why a run stopped, for the failures the trainer itself finds (the config loader has `ConfigError`; the data,
/// tokenizer, template, model and checkpoint layers have their own error types).
///
/// Every case is raised the same way on every rank: inputs are read and checked by every rank alike, the gradient
/// norm is that of the summed gradient, and a rank-0 failure reaches the other ranks through `onRankZero`'s
/// broadcast. So the command line prints it once and every rank exits on its own.
public enum RunError: IdenticalOnEveryRank, CustomStringConvertible {
    /// An input of the run cannot be used: the model folder, the data, a cache or the checkpoint to resume from.
    case input(String)
    /// The checkpoint to resume was made by a run that differs in what an exact resume needs.
    case resumeMismatch(step: Int, changes: [String])
    /// Update `step` (counted from 1) produced a non-finite value; `what` says which and that nothing was applied.
    case diverged(step: Int, what: String)
    /// Work only rank 0 does (creating `output_dir`, writing a checkpoint) failed; rank 0 holds the original error.
    case rankZero(RankZeroFailure)

    public var description: String {
        switch self {
        case .input(let message):
            return message
        case let .resumeMismatch(step, changes):
            return "cannot resume checkpoint-\(step): this run changed " + changes.joined(separator: ", ")
        case let .diverged(step, what):
            return "step \(step): \(what)"
        case .rankZero(let failure):
            return failure.message
        }
    }
}

extension Communicator {
    /// `onRankZero` for the trainer's rank-0 work: its failure becomes `RunError.rankZero` on every rank.
    func runOnRankZero(_ work: () throws -> Void) throws {
        do {
            try onRankZero(work)
        } catch let failure as RankZeroFailure {
            throw RunError.rankZero(failure)
        }
    }
}
