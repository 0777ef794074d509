import MPI

/// Sums a float buffer over all ranks in two levels, so that each node's network link carries one rank's share of the
/// traffic instead of ranks-per-node times it. The buffer goes through in chunks of at most `chunkCapacity` floats:
///
/// 1. within the node, through shared memory: every rank copies its chunk into its own slot of a node-shared window;
///    then each of the node's L ranks sums its 1/L slice of the chunk over the L slots, pairwise in rank order
///    ((s₀ + s₁) + (s₂ + s₃), …), into slot 0;
/// 2. among the node leaders, over the network: one in-place MPI_Allreduce of slot 0 (skipped on a single node);
/// 3. within the node: every rank copies slot 0 back into its buffer.
///
/// Slots come in two sets used by alternate chunks, so a rank may fill the next chunk's slot while others still copy
/// the last chunk out; three node barriers per chunk (two on a single node) order the rest. The shared memory is
/// bounded by 2 × L × `chunkCapacity` floats per node, whatever the buffer's size. Every rank gets the same bits.
///
/// On one node of L ranks, or on nodes of 2ᵏ consecutive ranks each, the pairwise order is that of recursive
/// doubling; Open MPI's flat all-reduce may add in another order (ring, Rabenseifner), so the two paths agree to
/// rounding, not always bit for bit.
public final class HierarchicalAllReduce {
    public let topology: NodeTopology
    /// Floats per chunk.
    public let chunkCapacity: Int
    private let window: SharedMemoryWindow
    /// `slots[set][member]`: member's slot of `chunkCapacity` floats in slot set 0 or 1.
    private let slots: [[UnsafeMutablePointer<Float>]]
    /// Which slot set the next chunk uses.
    private var nextSet = 0

    /// The default chunk: 1 Mi floats (4 MiB), large enough that the barriers cost little next to the copies.
    public static let defaultChunkCapacity = 1 << 20

    /// Allocates the node's slots; collective over the world (every rank, in the same order).
    public init(topology: NodeTopology, chunkCapacity: Int = defaultChunkCapacity) throws {
        precondition(chunkCapacity > 0, "chunkCapacity must be positive")
        self.topology = topology
        self.chunkCapacity = chunkCapacity
        let members = topology.node.size
        let window = try topology.node.allocateSharedMemory(bytes: 2 * chunkCapacity * MemoryLayout<Float>.stride + 64)
        let segments = try (0 ..< members).map { member in
            try window.alignedSegment(ofMember: member).baseAddress!.bindMemory(to: Float.self, capacity: 2 * chunkCapacity)
        }
        self.window = window
        slots = [segments, segments.map { $0 + chunkCapacity }]
    }

    /// Replaces `buffer` on every rank by its element-wise sum over all ranks. Collective over the world: every rank
    /// passes a buffer of the same count.
    public func sum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = buffer.baseAddress else { return }
        var start = 0
        while start < buffer.count {
            let count = min(chunkCapacity, buffer.count - start)
            try sumChunk(base + start, count: count, slots: slots[nextSet])
            nextSet = 1 - nextSet
            start += count
        }
    }

    private func sumChunk(_ chunk: UnsafeMutablePointer<Float>, count: Int, slots: [UnsafeMutablePointer<Float>]) throws {
        let node = topology.node
        slots[node.rank].update(from: chunk, count: count)
        try window.synchronizedBarrier(over: node)
        let slice = Self.slice(of: count, member: node.rank, members: node.size)
        Self.sumPairwise(slots, range: slice)
        try window.synchronizedBarrier(over: node)
        if let leaders = topology.leaders, leaders.size > 1 {
            try leaders.allReduceSum(UnsafeMutableBufferPointer(start: slots[0], count: count))
        }
        if topology.nodeCount > 1 {
            try window.synchronizedBarrier(over: node)
        }
        chunk.update(from: slots[0], count: count)
    }

    /// Member `member`'s part of `0 ..< count` when `members` ranks split it: near-equal consecutive ranges whose
    /// bounds are multiples of 16 floats (a 64-byte cache line), so no two ranks write the same line.
    static func slice(of count: Int, member: Int, members: Int) -> Range<Int> {
        let lines = (count + 15) / 16
        let bound = { (member: Int) in min(count, 16 * (lines * member / members)) }
        return bound(member) ..< bound(member + 1)
    }

    /// slots[0][i] = the pairwise sum of slots[0 ..< n][i] for i in `range`: (s₀ + s₁) + (s₂ + s₃), …, formed in place.
    static func sumPairwise(_ slots: [UnsafeMutablePointer<Float>], range: Range<Int>) {
        var distance = 1
        while distance < slots.count {
            for target in stride(from: 0, to: slots.count - distance, by: 2 * distance) {
                let (sum, addend) = (slots[target], slots[target + distance])
                for index in range { sum[index] += addend[index] }
            }
            distance *= 2
        }
    }
}
