import MPI

/// Where the ranks of the job run: the ranks of this rank's node (those that can share memory with it), and one leader
/// per node — the node's lowest world rank — for what crosses the network once per node.
public final class NodeTopology {
    public let world: Communicator
    /// The ranks of this node, in world order; its rank 0 is the node's leader.
    public let node: SubCommunicator
    /// The leaders of all nodes, in world order (so world rank 0 is leader 0); nil on the other ranks.
    public let leaders: SubCommunicator?
    /// Nodes the job spans.
    public let nodeCount: Int

    /// Collective over the world.
    public init(world: Communicator) throws {
        self.world = world
        node = try world.splitByNode()
        leaders = try world.split(joining: node.rank == 0)
        var leaderCount = [node.rank == 0 ? 1.0 : 0.0]
        try leaderCount.withUnsafeMutableBufferPointer { try world.allReduceSum($0) }
        nodeCount = Int(leaderCount[0])
    }

    public var isNodeLeader: Bool { node.rank == 0 }

    /// Whether summing within each node first saves network traffic: the job spans several nodes and at least one
    /// of them runs more than one rank.
    public var benefitsFromHierarchy: Bool { nodeCount > 1 && nodeCount < world.size }
}

extension SharedMemoryWindow {
    /// A barrier over `node` that also orders the shared memory: every store made before it on any rank is visible
    /// to every load after it.
    func synchronizedBarrier(over node: SubCommunicator) throws {
        try synchronize()
        try node.barrier()
        try synchronize()
    }
}
