import Testing
import MPI
@testable import Distributed

@Suite struct RankShareTests {
    @Test func sharesAreDisjointCoveringAndBalanced() {
        for count in 0...40 {
            let items = Array(100..<(100 + count))
            for ranks in 1...12 {
                let shares = (0..<ranks).map { Communicator.share(of: items, rank: $0, ranks: ranks) }
                #expect(shares.flatMap { $0 }.sorted() == items, "count \(count) ranks \(ranks)")
                let sizes = shares.map(\.count)
                #expect(sizes.max()! - sizes.min()! <= 1)
                #expect(sizes == sizes.sorted(by: >), "larger shares come first")
            }
        }
    }

    @Test func dealsEverySizethItemFromTheRank() {
        let items = ["a", "b", "c", "d", "e"]
        #expect((0..<3).map { Communicator.share(of: items, rank: $0, ranks: 3) } == [["a", "d"], ["b", "e"], ["c"]])
        #expect((0..<7).map { Communicator.share(of: items, rank: $0, ranks: 7) }
            == [["a"], ["b"], ["c"], ["d"], ["e"], [], []])
    }
}
