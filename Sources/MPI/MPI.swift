import Foundation
import MPIShim

/// A failed MPI call: the MPI error code, MPI's own text for it (MPI_Error_string) and which wrapper
/// operation failed.
public struct MPIError: Error, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public let operation: String

    public init(code: Int32, message: String, operation: String) {
        self.code = code
        self.message = message
        self.operation = operation
    }

    /// Builds the error for an MPI return code, with MPI_Error_string's text.
    init(code: Int32, operation: String) {
        let capacity = dpo_mpi_max_error_string()
        var text = [CChar](repeating: 0, count: capacity)
        dpo_mpi_error_string(code, &text, capacity)
        self.init(code: code, message: String(cString: text), operation: operation)
    }

    public var description: String { "MPI error in \(operation): \(message) (code \(code))" }
}

/// Throws `MPIError` unless `code` is MPI_SUCCESS.
func check(_ code: Int32, _ operation: String) throws {
    guard code == DPO_MPI_SUCCESS else { throw MPIError(code: code, operation: operation) }
}

/// Throws if MPI has been finalized: MPI calls after MPI_Finalize are erroneous (they may abort the
/// process), so the wrapper refuses them instead. MPI_Finalized may be called at any time.
func checkNotFinalized(_ operation: String) throws {
    var finalized: Int32 = 0
    try check(dpo_mpi_finalized(&finalized), "MPI_Finalized")
    if finalized != 0 {
        throw MPIError(code: DPO_MPI_ERR_OTHER, message: "MPI has already been finalized", operation: operation)
    }
}

/// MPI_COMM_WORLD: every process of the job. Obtain it with `Communicator.world()`.
///
/// MPI is initialized with MPI_THREAD_FUNNELED: make all MPI calls from one thread at a time
/// (the thread that first called `world()`). Collective operations must be called by every rank in
/// the same order. Errors are returned as `MPIError` rather than aborting the job.
public final class Communicator: @unchecked Sendable {
    /// This process's rank in MPI_COMM_WORLD, in `0..<size`.
    public let rank: Int
    /// Number of processes in MPI_COMM_WORLD (1 when run without mpirun).
    public let size: Int

    /// Guards `shared` so that concurrent first calls initialize MPI once.
    private static let lock = NSLock()
    nonisolated(unsafe) private static var shared: Communicator?

    private init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
    }

    /// The world communicator. The first call initializes MPI (once per process, thread-safe); later
    /// calls return the same instance. Without mpirun, Open MPI starts as a singleton job of size 1.
    /// Throws after `finalize()`, because MPI cannot be initialized twice.
    public static func world() throws -> Communicator {
        lock.lock()
        defer { lock.unlock() }
        if let shared { return shared }
        try checkNotFinalized("MPI_Init_thread")
        var provided: Int32 = 0
        try check(dpo_mpi_init(&provided), "MPI_Init_thread")
        var rank: Int32 = 0
        var size: Int32 = 0
        try check(dpo_mpi_comm_rank(&rank), "MPI_Comm_rank")
        try check(dpo_mpi_comm_size(&size), "MPI_Comm_size")
        let world = Communicator(rank: Int(rank), size: Int(size))
        shared = world
        return world
    }

    /// Largest element (or, for broadcasts, byte) count passed to a single MPI call; larger buffers are
    /// split into several calls. Defaults to Int32.max because MPI counts are C `int`. Lower it only to
    /// exercise the splitting with small buffers (mpi-check does); values are clamped to 1...Int32.max.
    public static var maximumCountPerCall: Int {
        get { dpo_mpi_max_count_per_call() }
        set { dpo_mpi_set_max_count_per_call(max(1, newValue)) }
    }

    /// Runs one MPI call after checking that MPI is still active; a non-success code becomes `MPIError`.
    private func perform(_ operation: String, _ call: () -> Int32) throws {
        try checkNotFinalized(operation)
        try check(call(), operation)
    }

    /// Sums `buffer` element-wise over all ranks, in place (MPI_IN_PLACE); every rank gets the total.
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = buffer.baseAddress else { return }
        try perform("MPI_Allreduce(float, sum)") { dpo_mpi_allreduce_sum_float(base, buffer.count) }
    }

    /// Sums `buffer` element-wise over all ranks, in place, in double precision (for metric sums).
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        guard let base = buffer.baseAddress else { return }
        try perform("MPI_Allreduce(double, sum)") { dpo_mpi_allreduce_sum_double(base, buffer.count) }
    }

    /// Starts an in-place float sum all-reduce (MPI_Iallreduce) and returns at once, so computation can
    /// overlap communication. `buffer` must stay allocated and must not be read or written until the
    /// returned operation completes (`wait()` or `isComplete()` returning true).
    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingAllReduce {
        var request: OpaquePointer?
        try perform("MPI_Iallreduce(float, sum)") {
            dpo_mpi_iallreduce_sum_float(buffer.baseAddress, buffer.count, &request)
        }
        return PendingAllReduce(request: request)
    }

    /// Copies `buffer` from rank `root` into `buffer` on every other rank. All ranks pass the same byte count.
    /// Throws `MPIError` (MPI_ERR_ROOT) if `root` is not in `0..<size`.
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        let rootRank = try Self.rankArgument(root, operation: "MPI_Bcast")
        try perform("MPI_Bcast") { dpo_mpi_broadcast_bytes(buffer.baseAddress, buffer.count, rootRank) }
    }

    /// Broadcasts a byte array of any length from `root`: the length goes first, then the bytes,
    /// so other ranks' `data` is replaced whatever its previous size.
    public func broadcast(_ data: inout [UInt8], root: Int) throws {
        var length = UInt64(data.count)
        try withUnsafeMutableBytes(of: &length) { try broadcast($0, root: root) }
        if rank != root { data = [UInt8](repeating: 0, count: Int(length)) }
        try data.withUnsafeMutableBytes { try broadcast($0, root: root) }
    }

    /// Blocks until every rank has called `barrier()`.
    public func barrier() throws {
        try perform("MPI_Barrier") { dpo_mpi_barrier() }
    }

    /// Terminates every process of the job with exit `code` (MPI_Abort); just exits if MPI is not running.
    public func abort(code: Int32) -> Never {
        dpo_mpi_abort(code)
    }

    /// Shuts MPI down (MPI_Finalize). Idempotent; afterwards every operation and `world()` throw.
    /// Call it once all ranks are done communicating, before the process exits.
    public func finalize() {
        Self.lock.withLock {
            Self.shared = nil
            _ = dpo_mpi_finalize()
        }
    }

    /// Converts a root rank to MPI's `int`, rejecting values that do not even fit (the shim checks the range).
    private static func rankArgument(_ rank: Int, operation: String) throws -> Int32 {
        guard let value = Int32(exactly: rank) else {
            throw MPIError(code: DPO_MPI_ERR_OTHER, message: "rank \(rank) does not fit in an MPI int", operation: operation)
        }
        return value
    }
}

/// A non-blocking all-reduce started by `Communicator.startAllReduceSum(_:)`.
/// Complete it with `wait()` (or poll `isComplete()`) before using the buffer. If it is dropped while
/// still running, deinit waits for it, so the buffer is never written after the handle is gone.
public final class PendingAllReduce {
    private var request: OpaquePointer?

    fileprivate init(request: OpaquePointer?) {
        self.request = request
    }

    /// Blocks until the all-reduce has finished; the buffer then holds the sum. Idempotent.
    public func wait() throws {
        guard let request else { return }
        try checkNotFinalized("MPI_Waitall(MPI_Iallreduce)")
        try check(dpo_mpi_request_wait(request), "MPI_Waitall(MPI_Iallreduce)")
        release()
    }

    /// Whether the all-reduce has finished (MPI_Testall, which also drives progress); never blocks.
    public func isComplete() throws -> Bool {
        guard let request else { return true }
        try checkNotFinalized("MPI_Testall(MPI_Iallreduce)")
        var completed: Int32 = 0
        try check(dpo_mpi_request_test(request, &completed), "MPI_Testall(MPI_Iallreduce)")
        if completed != 0 { release() }
        return completed != 0
    }

    private func release() {
        dpo_mpi_request_free(request)
        request = nil
    }

    deinit {
        guard let request else { return }
        var finalized: Int32 = 0
        _ = dpo_mpi_finalized(&finalized)
        if finalized == 0 { _ = dpo_mpi_request_wait(request) }
        dpo_mpi_request_free(request)
    }
}
