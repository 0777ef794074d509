#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Wall-clock and process CPU seconds of one timed run. CPU time counts every thread of the process, so on a
/// machine shared with other work wall time can exceed it, and with n busy threads it approaches n × wall.
public struct Timing: Codable, Sendable {
    public var wallSeconds: Double
    public var cpuSeconds: Double
}

/// Runs `body` once and returns its wall and CPU time.
func time(_ body: () throws -> Void) rethrows -> Timing {
    let (wallStart, cpuStart) = (clockSeconds(CLOCK_MONOTONIC), clockSeconds(CLOCK_PROCESS_CPUTIME_ID))
    try body()
    return Timing(wallSeconds: clockSeconds(CLOCK_MONOTONIC) - wallStart,
                  cpuSeconds: clockSeconds(CLOCK_PROCESS_CPUTIME_ID) - cpuStart)
}

private func clockSeconds(_ clock: clockid_t) -> Double {
    var now = timespec()
    clock_gettime(clock, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

/// The middle value (mean of the two middle values for an even count); 0 for no values.
func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// The process's peak resident set size so far, in bytes (getrusage's ru_maxrss: KiB on Linux, bytes on macOS).
public func peakResidentBytes() -> Int {
    var usage = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
    #else
    getrusage(RUSAGE_SELF, &usage)
    return Int(usage.ru_maxrss)
    #endif
}
