import Dispatch

/// How many threads a kernel may use inside one rank.
///
/// Work is split into `threads` contiguous chunks run with `DispatchQueue.concurrentPerform`;
/// with one thread the body runs inline on the caller, so single-threaded runs have no dispatch cost.
public struct Parallel: Sendable {
    public let threads: Int

    public init(threads: Int) {
        precondition(threads >= 1, "threads must be at least 1")
        self.threads = threads
    }

    public static let serial = Parallel(threads: 1)

    /// Calls `body` on disjoint subranges that together cover `0..<count`.
    /// Ranges smaller than `minimumChunk` are not split further, so tiny loops stay on one thread.
    public func forEachChunk(of count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threads, max(1, count / max(1, minimumChunk)))
        if chunks == 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks
                let end = count * (chunk + 1) / chunks
                body(start..<end)
            }
        }
    }
}

/// Rows per thread chunk such that each chunk does at least ~1M multiply-adds (threading tiny products costs more than it saves).
func minimumRows(perRowWork: Int) -> Int {
    max(1, (1 << 20) / max(1, perRowWork))
}
