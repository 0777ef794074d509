import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An advisory lock on a run's `output_dir`, held by rank 0 for the whole run, so that a second run started into the
/// same folder is refused instead of deleting or interleaving the first one's checkpoints and metrics.
///
/// `flock(2)` on `output_dir/.dpo-dist.lock`: the kernel releases it when the process ends, however it ends, so a
/// killed run never leaves a stale lock behind. The file holds the holder's pid, host and start time for the message.
public final class OutputDirectoryLock {
    public static let fileName = ".dpo-dist.lock"
    private let descriptor: Int32

    /// Takes the lock or throws `OutputDirectoryInUse` naming the run that holds it. `outputDir` must exist.
    public init(outputDir: URL) throws {
        let path = outputDir.appendingPathComponent(Self.fileName).path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CheckpointError.lastSystemError("open", path: path) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            if code == EWOULDBLOCK {
                throw OutputDirectoryInUse(outputDir: outputDir.path, holder: holder.isEmpty ? "unknown" : holder)
            }
            throw CheckpointError.io(operation: "flock", path: path, code: code)
        }
        self.descriptor = descriptor
        let host = ProcessInfo.processInfo.hostName
        let since = ISO8601DateFormatter().string(from: Date())
        let record = Array("pid \(getpid()) on host \(host), since \(since)\n".utf8)
        // The record only feeds a later run's message; failing to write it must not stop this run.
        if ftruncate(descriptor, 0) == 0 {
            _ = record.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        }
    }

    deinit {
        // Closing the descriptor releases the lock; the file stays (deleting it would race with a new holder).
        close(descriptor)
    }
}

/// Another run holds `output_dir`'s lock.
public struct OutputDirectoryInUse: Error, CustomStringConvertible, Equatable {
    public var outputDir: String
    /// What the holder wrote into the lock file: its pid, host and start time.
    public var holder: String

    public var description: String {
        "`output_dir` \(outputDir) is in use by another dpo-dist run (\(holder)); wait for it to end, stop it, "
            + "or choose another output_dir"
    }
}
