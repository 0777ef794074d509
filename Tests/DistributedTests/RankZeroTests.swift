import Testing
import Diagnostics
import MPI
@testable import Distributed

@Suite struct RankZeroTests {
    private struct Unwritable: Error, CustomStringConvertible {
        var description: String { "`output_dir` /nowhere: cannot create it" }
    }

    @Test func aFailureOnRankZeroCarriesTheMessageAndTheOriginalError() throws {
        let world = try Communicator.world()
        let failure = try #require(throws: RankZeroFailure.self) { try world.onRankZero { throw Unwritable() } }
        #expect(failure.message == "`output_dir` /nowhere: cannot create it")
        #expect(failure.underlying is Unwritable)
        #expect((failure as any Error) is any IdenticalOnEveryRank)
        var ran = false
        try world.onRankZero { ran = true }
        #expect(ran)
    }
}
