import Distributed
import Foundation
import MPI

/// An nccl-tests-style sweep of the in-place float sum over all ranks, for the flat path (one MPI_Allreduce over the
/// world) and the hierarchical one (`HierarchicalAllReduce`: shared memory within a node, MPI among node leaders).
///
/// For every message size, doubling from `minimumBytes` to `maximumBytes`: both paths first sum small integers, whose
/// exact total is known (`wrong` counts the elements that differ from it); then the same pseudo-random values, whose
/// two results are compared (`maxRelativeDifference`, ‖hierarchical − flat‖∞ / ‖flat‖∞: 0 where both add in the same
/// order); then `iterations(bytes:)` back-to-back timed calls of each after a barrier. The time is the mean per call,
/// averaged over the ranks; algorithm bandwidth is S / t and bus bandwidth 2(n − 1)/n · S / t, what each rank's link
/// carries in a ring all-reduce. Memory: two buffers of the largest size per rank, plus the hierarchical slots.
public enum AllReduceBenchmark {
    public struct Settings: Sendable {
        public var minimumBytes = 8
        public var maximumBytes = 512 << 20
        /// Bytes one path moves per size at most, which bounds the time: large sizes get fewer timed calls.
        public var bytesPerSize = 256 << 20
        /// Timed calls per path and size, at most and at least.
        public var maximumIterations = 20
        public var minimumIterations = 2
        /// Floats per chunk of the hierarchical path (its shared memory is 2 × ranks-per-node chunks).
        public var chunkCapacity = HierarchicalAllReduce.defaultChunkCapacity

        public init() {}

        /// The sizes of the sweep: powers of two times `minimumBytes`, up to `maximumBytes`.
        public var sizes: [Int] {
            Array(sequence(first: max(4, minimumBytes)) { $0 * 2 }.prefix { $0 <= maximumBytes })
        }

        /// Timed calls per path at `bytes`.
        public func iterations(bytes: Int) -> Int {
            min(maximumIterations, max(minimumIterations, bytesPerSize / bytes))
        }
    }

    public enum Path: String, Codable, CaseIterable, Sendable {
        case flat, hierarchical
    }

    /// One row of the table: one path at one size.
    public struct Row: Codable, Sendable {
        public var bytes: Int
        public var count: Int
        public var path: Path
        public var iterations: Int
        /// Mean seconds per call, averaged over the ranks.
        public var seconds: Double
        public var algorithmBandwidthGBps: Double
        public var busBandwidthGBps: Double
        /// Elements of the integer sum that differ from the exact total, over all ranks.
        public var wrong: Int
        /// ‖hierarchical − flat‖∞ / ‖flat‖∞ on the random values (0 on the flat rows).
        public var maxRelativeDifference: Double

        enum CodingKeys: String, CodingKey {
            case bytes, count, path, iterations, seconds, wrong
            case algorithmBandwidthGBps = "algbw_gbps", busBandwidthGBps = "busbw_gbps"
            case maxRelativeDifference = "max_relative_difference"
        }
    }

    public struct Result: Codable, Sendable {
        public var ranks: Int
        public var nodes: Int
        public var rows: [Row]

        public func json() -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return String(decoding: try! encoder.encode(self), as: UTF8.self)
        }

        /// The table nccl-tests prints, one line per size and path.
        public func table() -> String {
            let widths = [12, 11, 13, 6, 11, 11, 11, 7, 10]
            var lines = ["# in-place float sum, \(ranks) rank(s) on \(nodes) node(s); busbw = algbw · 2(n−1)/n",
                         "#" + Self.row(["size (B)", "count", "path", "iters", "time (us)", "algbw GB/s", "busbw GB/s",
                                         "#wrong", "vs flat"], widths).dropFirst()]
            for row in rows {
                lines.append(Self.row([
                    "\(row.bytes)", "\(row.count)", row.path.rawValue, "\(row.iterations)", String(format: "%.1f", row.seconds * 1e6),
                    String(format: "%.3f", row.algorithmBandwidthGBps), String(format: "%.3f", row.busBandwidthGBps),
                    "\(row.wrong)", String(format: "%.2e", row.maxRelativeDifference),
                ], widths))
            }
            return lines.joined(separator: "\n")
        }

        /// Cells right-aligned in columns of the given widths.
        private static func row(_ cells: [String], _ widths: [Int]) -> String {
            zip(cells, widths).map { cell, width in
                String(repeating: " ", count: max(0, width - cell.count)) + cell
            }.joined(separator: " ")
        }
    }

    /// Collective: every rank runs the sweep; every rank returns the same rows.
    public static func run(_ settings: Settings, communicator: Communicator) throws -> Result {
        let topology = try NodeTopology(world: communicator)
        let hierarchical = try HierarchicalAllReduce(topology: topology, chunkCapacity: settings.chunkCapacity)
        let largest = settings.sizes.last.map { $0 / MemoryLayout<Float>.stride } ?? 0
        let buffers = (0 ..< 2).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, largest)) }
        defer { buffers.forEach { $0.deallocate() } }
        let sums: [Path: (UnsafeMutableBufferPointer<Float>) throws -> Void] = [
            .flat: { try communicator.allReduceSum($0) },
            .hierarchical: { try hierarchical.sum($0) },
        ]
        let ranks = communicator.size
        var rows: [Row] = []
        for bytes in settings.sizes {
            let count = bytes / MemoryLayout<Float>.stride
            let views = buffers.map { UnsafeMutableBufferPointer(rebasing: $0[0 ..< count]) }
            var wrong: [Path: Int] = [:]
            for (index, path) in Path.allCases.enumerated() {
                fillWithIntegers(views[index], rank: communicator.rank)
                try sums[path]!(views[index])
                wrong[path] = Int(try globalSum(Double(countWrongIntegers(views[index], ranks: ranks)), communicator))
            }
            for (index, path) in Path.allCases.enumerated() {
                fillWithRandomValues(views[index], rank: communicator.rank)
                try sums[path]!(views[index])
            }
            let difference = relativeDifference(views[1], from: views[0])
            let iterations = settings.iterations(bytes: bytes)
            for (index, path) in Path.allCases.enumerated() {
                try communicator.barrier()
                let timing = try time {
                    for _ in 0 ..< iterations { try sums[path]!(views[index]) }
                }
                let seconds = try globalSum(timing.wallSeconds / Double(iterations), communicator) / Double(ranks)
                let algorithmBandwidth = Double(bytes) / seconds / 1e9
                rows.append(Row(bytes: bytes, count: count, path: path, iterations: iterations, seconds: seconds,
                                algorithmBandwidthGBps: algorithmBandwidth,
                                busBandwidthGBps: algorithmBandwidth * 2 * Double(ranks - 1) / Double(ranks),
                                wrong: wrong[path]!, maxRelativeDifference: path == .flat ? 0 : difference))
            }
        }
        return Result(ranks: ranks, nodes: topology.nodeCount, rows: rows)
    }

    /// The sum over ranks of one value (exact for the counts of wrong elements).
    private static func globalSum(_ value: Double, _ communicator: Communicator) throws -> Double {
        var total = [value]
        try total.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
        return total[0]
    }

    /// Rank r's element i is (r + 1)·(i mod 7 + 1): the sum over n ranks is n(n + 1)/2·(i mod 7 + 1), exact in any order.
    private static func fillWithIntegers(_ buffer: UnsafeMutableBufferPointer<Float>, rank: Int) {
        for index in buffer.indices { buffer[index] = Float((rank + 1) * (index % 7 + 1)) }
    }

    private static func countWrongIntegers(_ buffer: UnsafeMutableBufferPointer<Float>, ranks: Int) -> Int {
        let rankSum = Float(ranks * (ranks + 1) / 2)
        return buffer.indices.reduce(0) { $0 + (buffer[$1] == rankSum * Float($1 % 7 + 1) ? 0 : 1) }
    }

    /// Values in [−1, 1) hashed from the rank and the position (SplitMix64's finalizer), the same on every path.
    private static func fillWithRandomValues(_ buffer: UnsafeMutableBufferPointer<Float>, rank: Int) {
        for index in buffer.indices {
            var z = UInt64(rank) << 40 &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            buffer[index] = Float(z >> 40) / Float(1 << 23) - 1
        }
    }

    /// ‖a − b‖∞ / ‖b‖∞ (0 when both are 0).
    private static func relativeDifference(_ a: UnsafeMutableBufferPointer<Float>, from b: UnsafeMutableBufferPointer<Float>) -> Double {
        var largestDifference: Float = 0, largest: Float = 0
        for index in b.indices {
            largestDifference = max(largestDifference, abs(a[index] - b[index]))
            largest = max(largest, abs(b[index]))
        }
        return largest > 0 ? Double(largestDifference / largest) : 0
    }
}
