import MPI

/// One float buffer per node instead of one per rank: it lives in MPI shared memory (MPI_Win_allocate_shared) that
/// every rank of the node maps, for data that all of them only read, such as a frozen reference model. The node's
/// leader writes it (`writeOnNodeLeader`), between barriers, so no rank reads a half-written buffer.
public final class NodeSharedBuffer {
    public let topology: NodeTopology
    /// The node's copy, mapped into this process. Only `writeOnNodeLeader` and `broadcastFromRankZero` write it.
    public let floats: UnsafeMutableBufferPointer<Float>
    private let window: SharedMemoryWindow

    /// Allocates `count` floats, 64-byte aligned, in the node leader's segment; collective over the node.
    public init(count: Int, topology: NodeTopology) throws {
        self.topology = topology
        window = try topology.node.allocateSharedMemory(bytes: topology.isNodeLeader ? count * MemoryLayout<Float>.stride + 64 : 0)
        let segment = try window.alignedSegment(ofMember: 0)
        precondition(segment.count >= count * MemoryLayout<Float>.stride, "the shared segment is smaller than requested")
        floats = UnsafeMutableBufferPointer(start: segment.baseAddress?.bindMemory(to: Float.self, capacity: count),
                                            count: count)
    }

    /// Runs `write` on the node leader alone, after every rank of the node has stopped reading the buffer and before
    /// any reads it again (a barrier on each side); collective over the node. Every rank must pass the same work, so
    /// that the leader's result is what each rank would have computed for itself.
    public func writeOnNodeLeader(_ write: (UnsafeMutableBufferPointer<Float>) -> Void) throws {
        try window.synchronizedBarrier(over: topology.node)
        if topology.isNodeLeader { write(floats) }
        try window.synchronizedBarrier(over: topology.node)
    }

    /// Gives every node world rank 0's contents (a checkpoint it read): a broadcast among the node leaders, then a
    /// barrier within each node. Collective over the world.
    public func broadcastFromRankZero() throws {
        try window.synchronizedBarrier(over: topology.node)
        try topology.leaders?.broadcast(UnsafeMutableRawBufferPointer(floats), root: 0)
        try window.synchronizedBarrier(over: topology.node)
    }
}
