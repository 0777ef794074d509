import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file descriptor open for writing, with the retry loop raw `write(2)` needs.
/// Used so multi-GB buffers go to disk straight from memory, without building a `Data` first.
struct FileSink {
    let descriptor: Int32
    let path: String

    /// Writes every byte, retrying partial writes and interrupted calls.
    func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        guard var next = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            // Linux writes at most ~2 GiB per call; ask for 1 GiB at a time.
            let written = write(descriptor, next, min(remaining, 1 << 30))
            if written < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.lastSystemError("write", path: path)
            }
            next += written
            remaining -= written
        }
    }
}

/// Flushes a file or directory to stable storage (`fsync` on a read-only descriptor, which Linux and macOS allow).
/// Directories are synced so that the names created or renamed in them survive a crash.
func syncToDisk(path: String) throws {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw CheckpointError.lastSystemError("open", path: path) }
    defer { close(descriptor) }
    // Some file systems cannot fsync a directory and say EINVAL; there is nothing more to do on those.
    guard fsync(descriptor) == 0 || errno == EINVAL else {
        throw CheckpointError.lastSystemError("fsync", path: path)
    }
}

/// `rename(2)`: atomic within one file system; replaces an existing file (or empty directory) at `to`.
func renameItem(at from: String, to: String) throws {
    guard rename(from, to) == 0 else {
        throw CheckpointError.lastSystemError("rename to \(to)", path: from)
    }
}

/// Writing a file so that readers see either the old contents or the complete new contents, even after a crash.
public enum AtomicFile {
    /// Writes `data` to a temporary name in the destination's directory, fsyncs it, renames it over `url`,
    /// and fsyncs the directory.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { sink in
            try data.withUnsafeBytes { try sink.writeAll($0) }
        }
    }

    /// Same protocol as `write(_:to:)`, with the contents streamed by `fill` (for files too large to hold twice).
    static func write(to url: URL, fill: (FileSink) throws -> Void) throws {
        let path = url.path
        let directory = url.deletingLastPathComponent().path
        let temporaryPath = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CheckpointError.lastSystemError("create", path: temporaryPath) }
        do {
            do {
                try fill(FileSink(descriptor: descriptor, path: temporaryPath))
                guard fsync(descriptor) == 0 else { throw CheckpointError.lastSystemError("fsync", path: temporaryPath) }
            } catch {
                close(descriptor)
                throw error
            }
            // close can report a deferred write error (e.g. on NFS), so it is checked too.
            guard close(descriptor) == 0 else { throw CheckpointError.lastSystemError("close", path: temporaryPath) }
            try renameItem(at: temporaryPath, to: path)
        } catch {
            unlink(temporaryPath)
            throw error
        }
        try syncToDisk(path: directory)
    }
}
