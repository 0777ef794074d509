import Diagnostics
import MPI

/// Work every rank did (`Communicator.onEveryRank`) that failed on at least one of them, raised on every rank with
/// the first failing rank's message: a data file missing on one node ends the whole job with that message instead of
/// leaving the other ranks waiting in their next collective call.
public struct RankFailure: IdenticalOnEveryRank, CustomStringConvertible {
    /// The ranks whose work threw, in order.
    public let failedRanks: [Int]
    public let ranks: Int
    /// The description of the first failing rank's error, the same on every rank.
    public let message: String

    public var description: String {
        guard failedRanks.count < ranks, let first = failedRanks.first else { return message }
        let others = failedRanks.count > 1 ? " and \(failedRanks.count - 1) other rank(s)" : ""
        return "rank \(first)\(others) of \(ranks): \(message)"
    }
}

/// Ranks whose fingerprints of what must be the same everywhere (the resolved config, the model, the data) differ
/// from rank 0's.
public struct RanksDisagree: IdenticalOnEveryRank, CustomStringConvertible {
    /// What differs, with the ranks that differ from rank 0 in it.
    public let differences: [(what: String, ranks: [Int])]

    public var description: String {
        "the ranks disagree: " + differences.map { "\($0.what) of rank(s) \($0.ranks.map(String.init).joined(separator: ", ")) "
            + "differs from rank 0's" }.joined(separator: "; ")
            + " — every rank must get the same config, command line, model folder and data files"
    }
}

extension Communicator {
    /// Runs `work` on every rank and agrees on the outcome before any rank goes on: if it threw anywhere, every rank
    /// throws `RankFailure` (a collective: every rank must call it at the same point).
    public func onEveryRank<Value>(_ work: () throws -> Value) throws -> Value {
        guard size > 1 else { return try work() }
        let outcome = Result(catching: work)
        var failed = [Double](repeating: 0, count: size)
        if case .failure = outcome { failed[rank] = 1 }
        try failed.withUnsafeMutableBufferPointer { try allReduceSum($0) }
        let failedRanks = failed.indices.filter { failed[$0] > 0 }
        guard let first = failedRanks.first else { return try outcome.get() }
        var message: [UInt8] = []
        if rank == first, case .failure(let error) = outcome {
            message = Array("\(error)".utf8)
        }
        try broadcast(&message, root: first)
        throw RankFailure(failedRanks: failedRanks, ranks: size, message: String(decoding: message, as: UTF8.self))
    }

    /// Checks that every rank's fingerprint of each named item equals rank 0's; otherwise every rank throws
    /// `RanksDisagree` naming the items and the ranks (a collective).
    public func checkAgreement(_ items: [(what: String, fingerprint: String)]) throws {
        guard size > 1 else { return }
        var reference = Array(items.map(\.fingerprint).joined(separator: "\n").utf8)
        try broadcast(&reference, root: 0)
        let rankZero = String(decoding: reference, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        var differs = [Double](repeating: 0, count: items.count * size)
        for (index, item) in items.enumerated() where index >= rankZero.count || rankZero[index] != item.fingerprint {
            differs[index * size + rank] = 1
        }
        try differs.withUnsafeMutableBufferPointer { try allReduceSum($0) }
        let differences = items.indices.compactMap { index -> (what: String, ranks: [Int])? in
            let ranks = (0 ..< size).filter { differs[index * size + $0] > 0 }
            return ranks.isEmpty ? nil : (items[index].what, ranks)
        }
        guard differences.isEmpty else { throw RanksDisagree(differences: differences) }
    }
}
