import Foundation

/// Samples this process's proportional set size (PSS) from `/proc/self/smaps_rollup` on a background thread and keeps
/// the peak: the figure `launch/memory.sh` reads from outside, here taken inside each rank so that it works the same
/// under mpirun, namespace hosts and srun (whose ranks are not the batch script's children). PSS splits every page
/// among the processes mapping it, so node-shared memory (MPI's segments, a shared reference) counts once per node.
/// Linux only; elsewhere `peakKiB` stays nil.
public final class PeakPSSSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var peak: (pss: Int, anonymous: Int, file: Int, shared: Int)?
    private var running = true
    private let finished = DispatchSemaphore(value: 0)

    /// Starts sampling every `interval` seconds (and once at once).
    public init(interval: Double = 0.02) {
        guard FileManager.default.isReadableFile(atPath: "/proc/self/smaps_rollup") else {
            running = false
            finished.signal()
            return
        }
        let thread = Thread { [self] in
            while lock.withLock({ running }) {
                sample()
                Thread.sleep(forTimeInterval: interval)
            }
            finished.signal()
        }
        thread.start()
    }

    /// Takes one sample now (also useful right before reading the peak).
    public func sample() {
        guard let text = try? String(contentsOfFile: "/proc/self/smaps_rollup", encoding: .utf8) else { return }
        var fields: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let value = Int(parts[1]) { fields[String(parts[0].dropLast())] = value }
        }
        guard let pss = fields["Pss"] else { return }
        lock.withLock {
            if pss > peak?.pss ?? -1 {
                peak = (pss, fields["Pss_Anon"] ?? 0, fields["Pss_File"] ?? 0, fields["Pss_Shmem"] ?? 0)
            }
        }
    }

    /// Stops the thread; returns the peak PSS in KiB and its anonymous, file-backed and shared-memory parts at that
    /// moment, or nil where smaps_rollup is missing.
    public func stop() -> (pss: Int, anonymous: Int, file: Int, shared: Int)? {
        lock.withLock { running = false }
        finished.wait()
        sample()
        return lock.withLock { peak }
    }
}
