import Dispatch

/// How kernels run inside one rank: how many threads they may use, and the precision of their matrix products.
///
/// Work is split into `threads` contiguous chunks run with `DispatchQueue.concurrentPerform`;
/// with one thread the body runs inline on the caller, so single-threaded runs have no dispatch cost.
/// Every kernel already receives this value, so the model's matmul precision (`bf16: true`) reaches every GEMM,
/// attention's included, without a second argument on every call.
public struct Parallel: Sendable {
    public let threads: Int
    /// What the GEMMs multiply: fp32, or bf16-rounded inputs with fp32 accumulation (MatmulPrecision.swift).
    public let matmulPrecision: MatmulPrecision

    public init(threads: Int, matmulPrecision: MatmulPrecision = .fp32) {
        precondition(threads >= 1, "threads must be at least 1")
        precondition(matmulPrecision != .bf16 || MatmulPrecision.bf16Available,
                     "bf16 matmuls need AVX512-BF16; resolve the precision with MatmulPrecision.resolve first")
        self.threads = threads
        self.matmulPrecision = matmulPrecision
    }

    public static let serial = Parallel(threads: 1)

    /// One thread, the same matmul precision: for the products inside a kernel's own thread split.
    public var singleThread: Parallel { Parallel(threads: 1, matmulPrecision: matmulPrecision) }

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
