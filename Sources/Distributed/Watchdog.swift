import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Bounds how long a phase of the run that waits on other ranks may take (transformers' `ddp_timeout`): a peer that
/// hangs instead of dying (stopped, swapping, a stalled network) would otherwise keep every rank waiting in its next
/// collective for ever.
///
/// A background thread checks once a second; when the phase begun with `guarding` has run longer than `timeout`, it
/// prints which rank, which phase and how long, and ends the process with `_exit(1)` — no MPI call, which could itself
/// block — so the launcher sees a failed rank and ends the whole job.
public final class Watchdog: @unchecked Sendable {
    public let timeout: Double
    private let rank: Int
    private let lock = NSLock()
    private var phase: (name: String, started: Date)?

    /// `timeout` in seconds; 0 or less watches nothing.
    public init(timeout: Double, rank: Int) {
        self.timeout = timeout
        self.rank = rank
        guard timeout > 0 else { return }
        let thread = Thread { [weak self] in
            while let watchdog = self {
                watchdog.check()
                Thread.sleep(forTimeInterval: min(1, watchdog.timeout / 4))
            }
        }
        thread.stackSize = 1 << 16
        thread.start()
    }

    /// Runs `body` as the phase `name` (e.g. "step 12: forward, backward and gradient sum").
    public func guarding<Value>(_ name: @autoclosure () -> String, _ body: () throws -> Value) rethrows -> Value {
        guard timeout > 0 else { return try body() }
        lock.withLock { phase = (name(), Date()) }
        defer { lock.withLock { phase = nil } }
        return try body()
    }

    private func check() {
        guard let (name, started) = lock.withLock({ phase }) else { return }
        let elapsed = Date().timeIntervalSince(started)
        guard elapsed > timeout else { return }
        let message = "error (rank \(rank)): \(name) has not finished after \(Int(elapsed)) s (ddp_timeout \(timeout) s): "
            + "another rank is hung or unreachable; ending the job\n"
        FileHandle.standardError.write(Data(message.utf8))
        _exit(1)
    }
}
