#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MPI

/// The stop signal this process received first; 0 while none has. Written only by `stopSignalHandler`.
nonisolated(unsafe) private var receivedStopSignal: sig_atomic_t = 0

/// SIGTERM (a Slurm time limit or preemption, `scancel`, `kill`), SIGINT (Ctrl-C) and SIGUSR1 (which `mpirun`
/// forwards to every rank at once, unlike SIGTERM: see launch/local.sh) ask a run to stop at the next step boundary:
/// the ranks agree there, rank 0 writes a checkpoint and every rank exits 0. A second signal ends the process at once;
/// the newest complete checkpoint stays as it was, since checkpoints are written under a temporary name and renamed.
enum StopSignals {
    static let handled: [(number: Int32, name: String)] = [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT"), (SIGUSR1, "SIGUSR1")]

    /// Installs the handler for every handled signal and unblocks them: a launcher's SIG_IGN or blocked mask is
    /// inherited across exec (some process launchers block SIGTERM in their children), and the run must still stop
    /// cleanly when asked.
    static func install() {
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for (number, _) in handled {
            _ = signal(number, stopSignalHandler)
            sigaddset(&unblock, number)
        }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    }

    /// The signal this process received, nil while none.
    static var received: Int32? { receivedStopSignal == 0 ? nil : receivedStopSignal }

    static func name(_ number: Int32) -> String {
        handled.first { $0.number == number }?.name ?? "signal \(number)"
    }
}

/// Async-signal-safe: records the first signal; a second one exits at once with the shell's 128 + n convention.
private func stopSignalHandler(_ number: Int32) {
    if receivedStopSignal != 0 {
        _exit(128 + number)
    }
    receivedStopSignal = number
}

extension Communicator {
    /// Whether any rank has received a stop signal, agreed by all ranks (a collective: every rank calls it at the same
    /// step boundary). Returns which signal and on how many ranks, for the message.
    func stopRequest() throws -> (signal: String, ranks: Int)? {
        var counts: [Double] = [StopSignals.received == nil ? 0 : 1, Double(StopSignals.received ?? 0)]
        if size > 1 {
            try counts.withUnsafeMutableBufferPointer { try allReduceSum($0) }
        }
        guard counts[0] > 0 else { return nil }
        let own = StopSignals.received.map(StopSignals.name)
        return (own ?? (counts[0] == 1 ? StopSignals.name(Int32(counts[1])) : "a stop signal"), Int(counts[0]))
    }
}
