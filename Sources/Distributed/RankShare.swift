import MPI

extension Communicator {
    /// The items this rank handles: every `size`-th from its rank on, as data-parallel loaders deal batches. Every
    /// item goes to exactly one rank, and the ranks' counts differ by at most one.
    public func share<Item>(of items: [Item]) -> [Item] {
        Self.share(of: items, rank: rank, ranks: size)
    }

    static func share<Item>(of items: [Item], rank: Int, ranks: Int) -> [Item] {
        stride(from: rank, to: items.count, by: ranks).map { items[$0] }
    }
}
