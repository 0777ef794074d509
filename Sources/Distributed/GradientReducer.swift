import Dispatch
import MPI

/// Sums a flat gradient buffer over all ranks, overlapping the communication with the step's last backward pass,
/// as PyTorch DDP does with `bucket_cap_mb`.
///
/// The buffer is cut into buckets of at most `bucketCapacity` elements, counted from its END: backward finishes the
/// last tensors of the buffer (head, final norm, last block) first. The model reports each range it has finished
/// through `gradientsReady`; a bucket's non-blocking all-reduce starts once its whole range is final. Buckets start
/// strictly in that end-to-start order on every rank — a bucket that is ready early waits for the ones before it —
/// so the collectives are issued in the same order everywhere whatever the data. Every report also tests the
/// outstanding all-reduces: Open MPI advances non-blocking collectives only inside MPI calls.
///
/// The sum of each element is the same single MPI reduction as with one blocking all-reduce, just issued per bucket.
/// With a `HierarchicalAllReduce` the whole buffer is instead summed by it, blocking, in `finish()`.
public final class GradientReducer {
    private let communicator: Communicator
    /// The two-level sum that replaces the flat all-reduces; nil for those.
    private let hierarchical: HierarchicalAllReduce?
    private let gradients: UnsafeMutableBufferPointer<Float>
    /// Bucket ranges in start order (from the end of the buffer to its start); empty for the blocking path.
    let buckets: [Range<Int>]
    /// Elements of each bucket reported final so far.
    private var readyCounts: [Int]
    /// Buckets `0 ..< startedBuckets` have been started.
    private var startedBuckets = 0
    private var pending: [PendingAllReduce] = []
    /// The first MPI failure inside `gradientsReady` (which cannot throw), rethrown by `finish()`.
    private var failure: Error?
    /// Whether progress reports also test the outstanding all-reduces (off only to measure what that adds).
    private let testsWhileComputing: Bool
    /// Wall-clock seconds spent inside this reducer's MPI calls (starting, testing and waiting for the all-reduces, or
    /// the blocking one): the communication the step did not hide, measured directly.
    public private(set) var secondsInMPI = 0.0

    /// `bucketCapMB` in MiB as `ddp_bucket_cap_mb`; 0 selects one blocking all-reduce in `finish()`, as does
    /// `hierarchical`, which then sums instead of the flat all-reduce. With one rank nothing is communicated.
    public init(communicator: Communicator, gradients: UnsafeMutableBufferPointer<Float>, bucketCapMB: Double,
                testsWhileComputing: Bool = true, hierarchical: HierarchicalAllReduce? = nil) {
        self.communicator = communicator
        self.gradients = gradients
        self.testsWhileComputing = testsWhileComputing
        self.hierarchical = hierarchical
        buckets = communicator.size > 1 && hierarchical == nil
            ? Self.buckets(count: gradients.count, bucketCapMB: bucketCapMB) : []
        readyCounts = Array(repeating: 0, count: buckets.count)
    }

    /// `0 ..< count` cut into ranges of at most `bucketCapMB` MiB of floats, from the end to the start; none for 0.
    static func buckets(count: Int, bucketCapMB: Double) -> [Range<Int>] {
        guard bucketCapMB > 0 else { return [] }
        let capacity = max(1, Int(bucketCapMB * 1024 * 1024) / MemoryLayout<Float>.stride)
        return stride(from: count, to: 0, by: -capacity).map { max(0, $0 - capacity) ..< $0 }
    }

    /// The progress hook to pass to the step's LAST backward (earlier micro-batches still add to every gradient);
    /// nil when there is nothing to overlap.
    public var gradientsReady: ((Range<Int>) -> Void)? {
        buckets.isEmpty ? nil : { [unowned self] range in markReady(range) }
    }

    /// Completes the sum: starts the buckets not started yet (all of them if no backward reported progress), then
    /// waits for every one. Afterwards `gradients` holds the sum over all ranks.
    public func finish() throws {
        if let failure { throw failure }
        guard communicator.size > 1 else { return }
        try timingMPI {
            guard !buckets.isEmpty else {
                if let hierarchical {
                    try hierarchical.sum(gradients)
                } else {
                    try communicator.allReduceSum(gradients)
                }
                return
            }
            try startBuckets(upTo: buckets.count)
            for operation in pending { try operation.wait() }
            pending = []
        }
    }

    private func markReady(_ range: Range<Int>) {
        guard failure == nil else { return }
        // Buckets are in descending order of position, so the ones overlapping `range` are consecutive.
        for (index, bucket) in buckets.enumerated() where bucket.overlaps(range) {
            readyCounts[index] += bucket.clamped(to: range).count
            precondition(readyCounts[index] <= bucket.count, "gradientsReady reported elements of \(bucket) twice")
        }
        var readyPrefix = startedBuckets
        while readyPrefix < buckets.count && readyCounts[readyPrefix] == buckets[readyPrefix].count { readyPrefix += 1 }
        do {
            try timingMPI {
                try startBuckets(upTo: readyPrefix)
                if testsWhileComputing {
                    for operation in pending { _ = try operation.isComplete() }
                }
            }
        } catch {
            failure = error
        }
    }

    /// Runs `body` and adds its wall-clock time to `secondsInMPI`.
    private func timingMPI(_ body: () throws -> Void) rethrows {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { secondsInMPI += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        try body()
    }

    private func startBuckets(upTo end: Int) throws {
        while startedBuckets < end {
            let bucket = buckets[startedBuckets]
            pending.append(try communicator.startAllReduceSum(UnsafeMutableBufferPointer(rebasing: gradients[bucket])))
            startedBuckets += 1
        }
    }
}
