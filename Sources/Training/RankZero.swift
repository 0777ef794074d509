import MPI

extension Communicator {
    /// Runs `work` on rank 0 only and shares the outcome: when it throws there, every rank throws a `ConfigError`
    /// with the same message. A problem only rank 0 can see (an unwritable output_dir, a damaged checkpoint) then
    /// ends the job cleanly on all ranks instead of leaving the others waiting in their next collective call.
    func onRankZero(_ work: () throws -> Void) throws {
        var failure: [UInt8] = []
        if rank == 0 {
            do {
                try work()
            } catch {
                failure = Array("\(error)".utf8)
            }
        }
        if size > 1 {
            try broadcast(&failure, root: 0)
        }
        if !failure.isEmpty {
            throw ConfigError(String(decoding: failure, as: UTF8.self))
        }
    }
}
