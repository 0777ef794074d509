import MPIShim

/// A communicator derived from the world: the ranks of one node (`Communicator.splitByNode()`), or a chosen subset
/// (`Communicator.split(joining:)`). Its ranks keep their world order. The same threading rule as the world applies:
/// MPI calls from one thread at a time; collectives are called by every member in the same order.
public final class SubCommunicator: @unchecked Sendable {
    /// This process's rank in the subcommunicator, in `0..<size`.
    public let rank: Int
    public let size: Int
    private let handle: OpaquePointer

    fileprivate init(handle: OpaquePointer) throws {
        self.handle = handle
        var rank: Int32 = 0
        var size: Int32 = 0
        do {
            try check(dpo_mpi_comm_rank_in(handle, &rank), "MPI_Comm_rank")
            try check(dpo_mpi_comm_size_in(handle, &size), "MPI_Comm_size")
        } catch {
            dpo_mpi_comm_free(handle)
            throw error
        }
        self.rank = Int(rank)
        self.size = Int(size)
    }

    deinit {
        dpo_mpi_comm_free(handle)
    }

    private func perform(_ operation: String, _ call: () -> Int32) throws {
        try checkNotFinalized(operation)
        try check(call(), operation)
    }

    /// Blocks until every member has called `barrier()`.
    public func barrier() throws {
        try perform("MPI_Barrier") { dpo_mpi_barrier_in(handle) }
    }

    /// Sums `buffer` element-wise over the members, in place; every member gets the total.
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = buffer.baseAddress else { return }
        try perform("MPI_Allreduce(float, sum)") { dpo_mpi_allreduce_sum_float_in(handle, base, buffer.count) }
    }

    /// Copies `buffer` from member `root` to every other member; all pass the same byte count.
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard let rootRank = Int32(exactly: root) else {
            throw MPIError(code: DPO_MPI_ERR_OTHER, message: "rank \(root) does not fit in an MPI int", operation: "MPI_Bcast")
        }
        try perform("MPI_Bcast") { dpo_mpi_broadcast_bytes_in(handle, buffer.baseAddress, buffer.count, rootRank) }
    }

    /// Allocates `bytes` bytes of memory that every member maps (MPI_Win_allocate_shared); collective. Only for a
    /// communicator whose members share memory, such as `splitByNode()`'s.
    public func allocateSharedMemory(bytes: Int) throws -> SharedMemoryWindow {
        try checkNotFinalized("MPI_Win_allocate_shared")
        var window: OpaquePointer?
        var base: UnsafeMutableRawPointer?
        try check(dpo_mpi_win_allocate_shared(handle, max(0, bytes), &window, &base), "MPI_Win_allocate_shared")
        return SharedMemoryWindow(handle: window!, members: size)
    }
}

/// Memory that every rank of a node maps, one segment per rank (MPI_Win_allocate_shared), in one passive-target epoch
/// for its life. Between writes on one rank and reads on another: `synchronize()` on both sides of a barrier.
/// Freed (collectively) when the last reference goes, unless MPI is finalized by then.
public final class SharedMemoryWindow: @unchecked Sendable {
    private let handle: OpaquePointer
    /// Members of the communicator the window was allocated over.
    public let members: Int

    fileprivate init(handle: OpaquePointer, members: Int) {
        self.handle = handle
        self.members = members
    }

    deinit {
        dpo_mpi_win_free(handle)
    }

    /// The segment member `rank` allocated, mapped into this process (MPI_Win_shared_query). Open MPI rounds it up to
    /// whole pages but starts it only 8-byte aligned: see `alignedSegment`.
    public func segment(ofMember rank: Int) throws -> UnsafeMutableRawBufferPointer {
        try checkNotFinalized("MPI_Win_shared_query")
        var bytes = 0
        var base: UnsafeMutableRawPointer?
        try check(dpo_mpi_win_shared_query(handle, Int32(rank), &bytes, &base), "MPI_Win_shared_query")
        return UnsafeMutableRawBufferPointer(start: bytes > 0 ? base : nil, count: bytes)
    }

    /// The part of member `rank`'s segment from its first `alignment`-byte boundary on. Allocate `alignment` bytes
    /// more than needed. Every rank finds the same bytes: each maps the shared memory page-aligned, so a segment's
    /// address modulo a power of two up to the page size is the same in every process.
    public func alignedSegment(ofMember rank: Int, alignment: Int = 64) throws -> UnsafeMutableRawBufferPointer {
        let segment = try segment(ofMember: rank)
        guard let base = segment.baseAddress else { return segment }
        let padding = (alignment - Int(bitPattern: base) % alignment) % alignment
        return UnsafeMutableRawBufferPointer(rebasing: segment[min(padding, segment.count)...])
    }

    /// MPI_Win_sync: makes this rank's stores visible to, and other ranks' stores visible from, the shared memory.
    public func synchronize() throws {
        try checkNotFinalized("MPI_Win_sync")
        try check(dpo_mpi_win_sync(handle), "MPI_Win_sync")
    }
}

extension Communicator {
    /// The ranks that share this rank's memory — its node (MPI_Comm_split_type with MPI_COMM_TYPE_SHARED),
    /// in world order. Collective.
    public func splitByNode() throws -> SubCommunicator {
        try checkNotFinalized("MPI_Comm_split_type")
        var handle: OpaquePointer?
        try check(dpo_mpi_comm_split_shared_memory(&handle), "MPI_Comm_split_type")
        return try SubCommunicator(handle: handle!)
    }

    /// The ranks that pass `joining: true`, in world order (MPI_Comm_split); nil on the others. Collective.
    public func split(joining: Bool) throws -> SubCommunicator? {
        try checkNotFinalized("MPI_Comm_split")
        var handle: OpaquePointer?
        try check(dpo_mpi_comm_split_world(joining ? 0 : -1, &handle), "MPI_Comm_split")
        return try handle.map { try SubCommunicator(handle: $0) }
    }

    /// This rank's node name (MPI_Get_processor_name; the host name under Open MPI).
    public func processorName() throws -> String {
        try checkNotFinalized("MPI_Get_processor_name")
        var text = [CChar](repeating: 0, count: dpo_mpi_max_processor_name())
        try check(dpo_mpi_processor_name(&text, text.count), "MPI_Get_processor_name")
        return String(cString: text)
    }
}
