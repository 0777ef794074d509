// mpi-check: exercises the MPI wrapper for real under mpirun. Every rank fills buffers with
// rank-dependent values, runs each collective and compares the result with its closed form.
// Prints "mpi-check: rank R of N: ok", or the failed checks on stderr and exits 1.
// Every rank runs every collective in the same order even after a mismatch, so no rank is left waiting;
// an MPIError aborts the whole job instead.

import Foundation
import MPI

/// Buffer length used by the checks: large enough to split into several MPI calls when the
/// per-call maximum is lowered to `smallCallLimit`, with a remainder in the last call.
let elementCount = 2_500
/// Per-call count limit of the second pass, which exercises the splitting of big buffers.
let smallCallLimit = 1_000

struct Checker {
    let world: Communicator
    var failures: [String] = []
    /// Which pass is running (default or small per-call limit), named in failure messages.
    var pass = ""

    var ranks: Int { world.size }
    var rank: Int { world.rank }

    mutating func expect(_ condition: Bool, _ what: @autoclosure () -> String) {
        if !condition { failures.append("[\(pass)] \(what())") }
    }

    /// Compares element-wise (exactly: the checks sum small integers) and records the first mismatch under `name`.
    mutating func expectEqual<T: BinaryFloatingPoint>(_ name: String, _ actual: [T], expected: (Int) -> T) {
        if let index = actual.indices.first(where: { actual[$0] != expected($0) }) {
            failures.append("[\(pass)] \(name): element \(index) is \(actual[index]), expected \(expected(index))")
        }
    }

    /// Σ_r (r + 1) over all ranks: the factor every float sum check scales by.
    var rankSum: Float { Float(ranks * (ranks + 1) / 2) }

    /// Rank r contributes (r + 1)·(i mod 7 + 1): small integers, so the float sum is exact.
    mutating func checkFloatSum() throws {
        var values = (0..<elementCount).map { Float((rank + 1) * ($0 % 7 + 1)) }
        try values.withUnsafeMutableBufferPointer { try world.allReduceSum($0) }
        let total = rankSum
        expectEqual("allReduceSum(Float)", values) { total * Float($0 % 7 + 1) }
    }

    /// Rank r contributes r + i/4 (exact in binary): the sum is N(N−1)/2 + N·i/4.
    mutating func checkDoubleSum() throws {
        var values = (0..<elementCount).map { Double(rank) + Double($0) / 4 }
        try values.withUnsafeMutableBufferPointer { try world.allReduceSum($0) }
        let n = Double(ranks)
        expectEqual("allReduceSum(Double)", values) { n * (n - 1) / 2 + n * Double($0) / 4 }
    }

    /// The byte pattern `root` broadcasts; every other rank starts from a different pattern.
    func pattern(_ index: Int, from sender: Int) -> UInt8 { UInt8(truncatingIfNeeded: index &* 31 &+ sender &* 7 &+ 1) }

    /// Raw broadcast from the last rank (so a root other than 0 is covered when N > 1).
    mutating func checkRawBroadcast() throws {
        let root = ranks - 1
        var bytes = (0..<elementCount).map { pattern($0, from: rank) }
        try bytes.withUnsafeMutableBytes { try world.broadcast($0, root: root) }
        expect(bytes.indices.allSatisfy { bytes[$0] == pattern($0, from: root) },
               "broadcast(raw, root \(root)): bytes differ from the root's")
    }

    /// [UInt8] broadcast: receivers start with arrays of other lengths and must end with the root's.
    mutating func checkArrayBroadcast() throws {
        let root = 0
        let rootLength = elementCount + 3
        var data = rank == root ? (0..<rootLength).map { pattern($0, from: root) } : [UInt8](repeating: 0xEE, count: rank)
        try world.broadcast(&data, root: root)
        expect(data.count == rootLength, "broadcast([UInt8]): length \(data.count), expected \(rootLength)")
        expect(data.indices.allSatisfy { data[$0] == pattern($0, from: root) }, "broadcast([UInt8]): bytes differ from the root's")
    }

    /// Two overlapping non-blocking all-reduces: one completed by polling, one by wait().
    mutating func checkNonBlockingSum() throws {
        var polled = (0..<elementCount).map { Float((rank + 1) * ($0 % 7 + 1)) }
        var waited = (0..<elementCount).map { Float((rank + 1) * ($0 % 5 + 2)) }
        try polled.withUnsafeMutableBufferPointer { polledBuffer in
            try waited.withUnsafeMutableBufferPointer { waitedBuffer in
                let first = try world.startAllReduceSum(polledBuffer)
                let second = try world.startAllReduceSum(waitedBuffer)
                while try !first.isComplete() {}
                expect(try first.isComplete(), "startAllReduceSum: isComplete() went back to false")
                try second.wait()
                try second.wait()
            }
        }
        let total = rankSum
        expectEqual("startAllReduceSum (polled)", polled) { total * Float($0 % 7 + 1) }
        expectEqual("startAllReduceSum (wait)", waited) { total * Float($0 % 5 + 2) }
    }

    /// The node split (every rank of a node has the node leader's processor name), a split of the even ranks, a sum
    /// and a broadcast within each, and a shared window in which every rank of a node reads what the others wrote.
    mutating func checkNodeCommunicators() throws {
        let (rank, ranks) = (self.rank, self.ranks)
        let node = try world.splitByNode()
        let processorName = try world.processorName()
        expect(!processorName.isEmpty, "processorName() is empty")
        var leaderName = Array(processorName.utf8)
        var nameLength = UInt64(leaderName.count)
        try withUnsafeMutableBytes(of: &nameLength) { try node.broadcast($0, root: 0) }
        leaderName = node.rank == 0 ? leaderName : [UInt8](repeating: 0, count: Int(nameLength))
        try leaderName.withUnsafeMutableBytes { try node.broadcast($0, root: 0) }
        expect(String(decoding: leaderName, as: UTF8.self) == processorName,
               "splitByNode: node leader on \(String(decoding: leaderName, as: UTF8.self)), this rank on \(processorName)")

        let even = try world.split(joining: rank % 2 == 0)
        let joined = even != nil
        expect(joined == (rank % 2 == 0), "split(joining:): membership of rank \(rank)")
        if let even {
            let (evenRank, evenSize) = (even.rank, even.size)
            expect(evenSize == (ranks + 1) / 2 && evenRank == rank / 2, "split(joining:): rank \(evenRank) of \(evenSize)")
            var values = (0..<elementCount).map { Float((rank + 1) * ($0 % 7 + 1)) }
            try values.withUnsafeMutableBufferPointer { try even.allReduceSum($0) }
            let evenRankSum = Float(stride(from: 1, through: ranks, by: 2).reduce(0, +))
            expectEqual("SubCommunicator.allReduceSum", values) { evenRankSum * Float($0 % 7 + 1) }
            let root = even.size - 1
            var bytes = (0..<elementCount).map { pattern($0, from: even.rank) }
            try bytes.withUnsafeMutableBytes { try even.broadcast($0, root: root) }
            expect(bytes.indices.allSatisfy { bytes[$0] == pattern($0, from: root) },
                   "SubCommunicator.broadcast: bytes differ from the root's")
            try even.barrier()
        }

        // Member m allocates m + 1 values (Open MPI rounds each segment up to whole pages; one more for the alignment).
        let window = try node.allocateSharedMemory(bytes: (node.rank + 1) * MemoryLayout<Int32>.stride + 64)
        let own = try window.segment(ofMember: node.rank).bindMemory(to: Int32.self)
        for index in 0...node.rank { own[index] = Int32(100 * node.rank + index) }
        try window.synchronize()
        try node.barrier()
        try window.synchronize()
        for member in 0..<node.size {
            let segment = try window.segment(ofMember: member).bindMemory(to: Int32.self)
            let values = Array(segment.prefix(member + 1))
            expect(values == (0...member).map { Int32(100 * member + $0) },
                   "shared window: member \(member)'s segment reads \(values)")
        }
        try node.barrier()
        let aligned = try window.alignedSegment(ofMember: node.rank)
        let segment = try window.segment(ofMember: node.rank)
        expect(Int(bitPattern: aligned.baseAddress) % 64 == 0 && aligned.baseAddress! - segment.baseAddress! < 64,
               "alignedSegment: not the first 64-byte boundary of the segment")
    }

    mutating func runAll(pass: String) throws {
        self.pass = pass
        try checkFloatSum()
        try checkDoubleSum()
        try checkRawBroadcast()
        try checkArrayBroadcast()
        try checkNonBlockingSum()
        try checkNodeCommunicators()
        try world.barrier()
    }
}

func report(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

let world: Communicator
do {
    world = try Communicator.world()
} catch {
    report("mpi-check: \(error)")
    exit(1)
}

var checker = Checker(world: world)
let prefix = "mpi-check: rank \(world.rank) of \(world.size)"
do {
    try checker.runAll(pass: "one call per buffer")
    Communicator.maximumCountPerCall = smallCallLimit
    try checker.runAll(pass: "split into calls of \(smallCallLimit)")
} catch {
    report("\(prefix): \(error)")
    world.abort(code: 2)
}
world.finalize()
// After finalize: idempotent, and every use is an MPIError rather than undefined behaviour.
checker.pass = "after finalize"
world.finalize()
checker.expect((try? world.barrier()) == nil, "barrier() after finalize() did not throw")
checker.expect((try? Communicator.world()) == nil, "world() after finalize() did not throw")

if checker.failures.isEmpty {
    print("\(prefix): ok")
} else {
    for failure in checker.failures { report("\(prefix): FAILED \(failure)") }
    exit(1)
}
