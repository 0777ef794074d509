import Dispatch
import MPI

/// Sums a flat gradient buffer over all ranks, overlapping the communication with the step's last backward pass,
/// as PyTorch DDP does with `bucket_cap_mb`.
///
/// The buffer is cut into buckets of at most `bucketCapacity` elements, counted from its END: backward finishes the
/// last tensors of the buffer (head, final norm, last block) first. The model reports each range it has finished
/// through `gradientsReady`; a bucket's non-blocking collective starts once its whole range is final. Buckets start
/// strictly in that end-to-start order on every rank — a bucket that is ready early waits for the ones before it —
/// so the collectives are issued in the same order everywhere whatever the data. Every report also tests the
/// outstanding collectives: Open MPI advances non-blocking collectives only inside MPI calls.
///
/// Replicated, each bucket is all-reduced, and the sum of each element is the same single MPI reduction as with one
/// blocking all-reduce, just issued per bucket; with a `HierarchicalAllReduce` the whole buffer is instead summed by
/// it, blocking, in `finish()`. Sharded (ZeRO), each bucket is reduce-scattered so that every rank
/// receives only the sum of the part of the bucket in its own shard, which is moved to its place in the buffer; with a
/// `release` hook the rest of the bucket is handed back at once (ZeRO-2 keeps no other gradients). At most
/// `shardedBucketsInFlight` reduce-scatters run at once, as DeepSpeed's double-buffered ZeRO-2 buckets: Open MPI's
/// non-blocking reduce-scatter holds two bucket-sized temporaries from its start to its end, and a bucket's gradients
/// can only be released once it is done, so unbounded buckets in flight would cost what sharding saves.
public final class GradientReducer {
    /// What the sum leaves in each rank's buffer.
    public enum Result {
        /// The whole sum on every rank (all-reduce).
        case replicated
        /// Rank r's `shards[r]` of the sum, in place; everything else is undefined, or given to `release` (when set) as
        /// soon as its bucket is done.
        case sharded(BufferShards, release: ((Range<Int>) -> Void)?)
    }

    private let communicator: Communicator
    /// The two-level sum that replaces the flat all-reduces; nil for those.
    private let hierarchical: HierarchicalAllReduce?
    private let gradients: UnsafeMutableBufferPointer<Float>
    private let result: Result
    /// Bucket ranges in start order (from the end of the buffer to its start); empty for the blocking all-reduce.
    let buckets: [Range<Int>]
    /// Whether buckets start during the backward (a bucket cap was given) or all in `finish()`.
    private let overlapsBackward: Bool
    /// Elements of each bucket reported final so far.
    private var readyCounts: [Int]
    /// Reduce-scatters that may run at once; starting another first waits for the oldest.
    static let shardedBucketsInFlight = 2
    /// Buckets `0 ..< startedBuckets` have been started.
    private var startedBuckets = 0
    /// Started collectives that have not completed yet, with their bucket's index.
    private var pending: [(bucket: Int, operation: PendingCollective)] = []
    /// The first MPI failure inside `gradientsReady` (which cannot throw), rethrown by `finish()`.
    private var failure: Error?
    /// Whether progress reports also test the outstanding collectives (off only to measure what that adds).
    private let testsWhileComputing: Bool
    /// Wall-clock seconds spent inside this reducer's MPI calls (starting, testing and waiting for the collectives, or
    /// the blocking one): the communication the step did not hide, measured directly.
    public private(set) var secondsInMPI = 0.0

    /// `bucketCapMB` in MiB as `ddp_bucket_cap_mb`; 0 starts nothing before `finish()`, which then runs one blocking
    /// all-reduce, or reduce-scatters the whole buffer. With `hierarchical` a replicated sum is that one blocking sum,
    /// by it instead of the flat all-reduce. With one rank nothing is communicated.
    public init(communicator: Communicator, gradients: UnsafeMutableBufferPointer<Float>, bucketCapMB: Double,
                result: Result = .replicated, testsWhileComputing: Bool = true, hierarchical: HierarchicalAllReduce? = nil) {
        self.communicator = communicator
        self.gradients = gradients
        self.result = result
        self.testsWhileComputing = testsWhileComputing
        overlapsBackward = bucketCapMB > 0
        switch result {
        case _ where communicator.size == 1:
            buckets = []
            self.hierarchical = nil
        case .replicated:
            self.hierarchical = hierarchical
            buckets = hierarchical == nil ? Self.buckets(count: gradients.count, bucketCapMB: bucketCapMB) : []
        case .sharded:
            precondition(hierarchical == nil, "the hierarchical sum is an all-reduce, not a reduce-scatter")
            self.hierarchical = nil
            // A reduce-scatter is one MPI call, so no bucket exceeds the per-call count.
            let capacity = overlapsBackward ? Self.capacity(bucketCapMB: bucketCapMB) : gradients.count
            buckets = Self.buckets(count: gradients.count, capacity: min(capacity, Communicator.maximumCountPerCall))
        }
        readyCounts = Array(repeating: 0, count: buckets.count)
    }

    /// `0 ..< count` cut into ranges of at most `bucketCapMB` MiB of floats, from the end to the start; none for 0.
    static func buckets(count: Int, bucketCapMB: Double) -> [Range<Int>] {
        bucketCapMB > 0 ? buckets(count: count, capacity: capacity(bucketCapMB: bucketCapMB)) : []
    }

    /// Floats in `bucketCapMB` MiB, at least one.
    private static func capacity(bucketCapMB: Double) -> Int {
        max(1, Int(bucketCapMB * 1024 * 1024) / MemoryLayout<Float>.stride)
    }

    /// `0 ..< count` cut into ranges of at most `capacity` elements, from the end to the start.
    private static func buckets(count: Int, capacity: Int) -> [Range<Int>] {
        stride(from: count, to: 0, by: -capacity).map { max(0, $0 - capacity) ..< $0 }
    }

    /// The progress hook to pass to the backward whose gradients this reducer sums; nil when there is nothing to
    /// overlap.
    public var gradientsReady: ((Range<Int>) -> Void)? {
        buckets.isEmpty || !overlapsBackward ? nil : { [unowned self] range in markReady(range) }
    }

    /// Completes the sum: starts the buckets not started yet (all of them if no backward reported progress), then
    /// waits for every one. Afterwards `gradients` holds what `result` says.
    public func finish() throws {
        if let failure { throw failure }
        guard communicator.size > 1 else { return }
        var completed: [Int] = []
        try timingMPI {
            guard !buckets.isEmpty else {
                if let hierarchical {
                    try hierarchical.sum(gradients)
                } else {
                    try communicator.allReduceSum(gradients)
                }
                return
            }
            completed = try startBuckets(upTo: buckets.count)
            for (bucket, operation) in pending {
                try operation.wait()
                completed.append(bucket)
            }
            pending = []
        }
        completed.forEach(placeResult)
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
        var completed: [Int] = []
        do {
            try timingMPI {
                completed = try startBuckets(upTo: readyPrefix)
                if testsWhileComputing {
                    let tested = try pending.filter { try $0.operation.isComplete() }.map(\.bucket)
                    pending.removeAll { tested.contains($0.bucket) }
                    completed += tested
                }
            }
        } catch {
            failure = error
        }
        completed.forEach(placeResult)
    }

    /// Runs `body` and adds its wall-clock time to `secondsInMPI`.
    private func timingMPI(_ body: () throws -> Void) rethrows {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { secondsInMPI += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        try body()
    }

    /// Starts buckets `startedBuckets ..< end` in order; returns the buckets it waited for to stay within
    /// `shardedBucketsInFlight`.
    private func startBuckets(upTo end: Int) throws -> [Int] {
        var waited: [Int] = []
        while startedBuckets < end {
            let bucket = buckets[startedBuckets]
            let slice = UnsafeMutableBufferPointer(rebasing: gradients[bucket])
            switch result {
            case .replicated:
                pending.append((startedBuckets, try communicator.startAllReduceSum(slice)))
            case .sharded(let shards, _):
                while pending.count >= Self.shardedBucketsInFlight {
                    let oldest = pending.removeFirst()
                    try oldest.operation.wait()
                    waited.append(oldest.bucket)
                }
                pending.append((startedBuckets, try communicator.startReduceScatterSum(slice, counts: shards.counts(in: bucket))))
            }
            startedBuckets += 1
        }
        return waited
    }

    /// For a sharded sum, once bucket `index` is done: moves this rank's part of it from the bucket's start (where the
    /// reduce-scatter leaves it) to its place, and releases the rest of the bucket.
    private func placeResult(ofBucket index: Int) {
        guard case .sharded(let shards, let release) = result else { return }
        let bucket = buckets[index]
        let own = shards[communicator.rank].clamped(to: bucket)
        if own.lowerBound != bucket.lowerBound {
            UnsafeMutableRawPointer(gradients.baseAddress! + own.lowerBound)
                .copyMemory(from: gradients.baseAddress! + bucket.lowerBound, byteCount: own.count * MemoryLayout<Float>.stride)
        }
        release?(bucket.lowerBound ..< own.lowerBound)
        release?(own.upperBound ..< bucket.upperBound)
    }
}
