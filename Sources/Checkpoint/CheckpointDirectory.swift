import Foundation

/// Numbered checkpoints in one output directory, each published atomically.
///
/// Layout inside `outputDir`:
/// - `checkpoint-<step>/` — a published checkpoint. It counts as **complete** only if it holds the marker file
///   `COMPLETE` (see `completionMarker`), which `save` writes and fsyncs after everything else in it is on disk.
/// - `.tmp-checkpoint-<step>-<pid>…` — a checkpoint being written or discarded; never read, removed by the next `save`.
/// - `.replaced-checkpoint-<step>-<pid>` — a complete older copy of `checkpoint-<step>`, moved aside for a moment while
///   `save` replaces it. If a crash leaves it without a `checkpoint-<step>`, listings use it and the next `save`
///   renames it back, so the directory never lacks a complete checkpoint for a step once one was published.
///
/// Only one process may save into an output directory at a time (in distributed training: rank 0).
/// Errors: `CheckpointError` for invalid arguments and failed system calls; `FileManager` errors (which name
/// the path) from creating, listing and deleting directories; and whatever the writer throws.
public struct CheckpointDirectory: Sendable {
    /// The file whose presence marks a checkpoint directory as complete; written last by `save`.
    public static let completionMarker = "COMPLETE"

    private static let publishedPrefix = "checkpoint-"
    private static let temporaryPrefix = ".tmp-checkpoint-"
    private static let replacedPrefix = ".replaced-checkpoint-"

    public let outputDir: URL

    public init(outputDir: URL) {
        self.outputDir = outputDir
    }

    /// Where the checkpoint for `step` is (or would be) published.
    public func url(step: Int) -> URL {
        outputDir.appendingPathComponent(Self.publishedPrefix + String(step), isDirectory: true)
    }

    /// Creates a temporary directory, lets `writer` fill it, syncs everything, writes the completion marker and
    /// renames the directory to `checkpoint-<step>`, replacing an existing one without ever leaving the step
    /// without a complete copy. If `writer` throws, the temporary directory is removed and nothing is published.
    /// Leftovers of interrupted saves are cleaned up first.
    @discardableResult
    public func save(step: Int, writer: (URL) throws -> Void) throws -> URL {
        guard step >= 0 else { throw CheckpointError.invalidStep(step) }
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: outputDir, withIntermediateDirectories: true)
        try recoverInterruptedSaves()

        let pid = getpid()
        let temporary = entryURL(Self.temporaryPrefix + "\(step)-\(pid)")
        try fileManager.createDirectory(at: temporary, withIntermediateDirectories: false)
        do {
            try writer(temporary)
            try syncTree(temporary)
            try AtomicFile.write(Data("checkpoint-\(step)\n".utf8),
                                 to: temporary.appendingPathComponent(Self.completionMarker))
        } catch {
            try? fileManager.removeItem(at: temporary)
            throw error
        }

        let published = url(step: step)
        if fileManager.fileExists(atPath: published.path) {
            let replaced = entryURL(Self.replacedPrefix + "\(step)-\(pid)")
            try renameItem(at: published.path, to: replaced.path)
            do {
                try renameItem(at: temporary.path, to: published.path)
            } catch {
                try? renameItem(at: replaced.path, to: published.path)
                try? fileManager.removeItem(at: temporary)
                throw error
            }
            try syncToDisk(path: outputDir.path)
            // The new checkpoint is published; if deleting the old copy fails, the next save's recovery removes it.
            try? discard(replaced)
        } else {
            try renameItem(at: temporary.path, to: published.path)
            try syncToDisk(path: outputDir.path)
        }
        return published
    }

    /// The complete checkpoint with the highest step, or nil if there is none.
    public func latest() throws -> URL? {
        try all().last?.url
    }

    /// Every complete checkpoint, by increasing step. Incomplete directories and temporary names are ignored.
    public func all() throws -> [(step: Int, url: URL)] {
        var published: [Int: URL] = [:]
        var movedAside: [Int: URL] = [:]
        for name in try entryNames() {
            if let step = Self.step(in: name, prefix: Self.publishedPrefix, pidSuffix: false), isComplete(entryURL(name)) {
                published[step] = entryURL(name)
            } else if let step = Self.step(in: name, prefix: Self.replacedPrefix, pidSuffix: true), isComplete(entryURL(name)) {
                movedAside[step] = entryURL(name)
            }
        }
        return published.merging(movedAside) { publishedCopy, _ in publishedCopy }
            .map { (step: $0.key, url: $0.value) }
            .sorted { $0.step < $1.step }
    }

    /// Deletes all but the `keepLast` highest-step complete checkpoints (a `save_total_limit`); returns what it deleted.
    /// Each is first renamed to a temporary name, so a crash mid-delete cannot leave a half-deleted "complete" checkpoint.
    @discardableResult
    public func prune(keepLast: Int) throws -> [URL] {
        guard keepLast >= 1 else { throw CheckpointError.invalidKeepLast(keepLast) }
        let removed = try all().dropLast(keepLast).map(\.url)
        for url in removed {
            try discard(url)
        }
        return removed
    }

    /// Removes temporary directories of interrupted saves and puts back a checkpoint that was moved aside
    /// by an interrupted replacement. Called by `save`; only safe while no other process saves here.
    public func recoverInterruptedSaves() throws {
        let fileManager = FileManager.default
        for name in try entryNames() {
            let entry = entryURL(name)
            if name.hasPrefix(Self.temporaryPrefix) {
                try fileManager.removeItem(at: entry)
            } else if let step = Self.step(in: name, prefix: Self.replacedPrefix, pidSuffix: true) {
                let published = url(step: step)
                if !fileManager.fileExists(atPath: published.path) {
                    try renameItem(at: entry.path, to: published.path)
                    try syncToDisk(path: outputDir.path)
                } else if isComplete(published) {
                    try discard(entry)
                }
            }
        }
    }

    // MARK: - Helpers

    private func entryURL(_ name: String) -> URL {
        outputDir.appendingPathComponent(name, isDirectory: true)
    }

    /// Names in `outputDir`, or none if it does not exist yet.
    private func entryNames() throws -> [String] {
        guard FileManager.default.fileExists(atPath: outputDir.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: outputDir.path)
    }

    private func isComplete(_ directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent(Self.completionMarker).path)
    }

    /// The step in `<prefix><step>` (or `<prefix><step>-<pid>` with `pidSuffix`); nil for other names.
    /// Only canonical decimal steps count, so "checkpoint-007" or "checkpoint-+7" are not checkpoints.
    private static func step(in name: String, prefix: String, pidSuffix: Bool) -> Int? {
        guard name.hasPrefix(prefix) else { return nil }
        var rest = name.dropFirst(prefix.count)
        if pidSuffix {
            guard let dash = rest.firstIndex(of: "-"), case let pid = rest[rest.index(after: dash)...],
                  !pid.isEmpty, pid.allSatisfy(\.isASCIIDigit) else {
                return nil
            }
            rest = rest[..<dash]
        }
        guard rest.allSatisfy(\.isASCIIDigit), let step = Int(rest), String(step) == rest else { return nil }
        return step
    }

    /// Renames `directory` to a temporary name (atomically taking it out of listings), then deletes it.
    private func discard(_ directory: URL) throws {
        let doomed = entryURL(Self.temporaryPrefix + "discard-\(getpid())-" + directory.lastPathComponent)
        try renameItem(at: directory.path, to: doomed.path)
        try FileManager.default.removeItem(at: doomed)
    }

    /// fsyncs every file and directory under `root` (and `root` itself), whatever the writer did itself.
    private func syncTree(_ root: URL) throws {
        let fileManager = FileManager.default
        for relativePath in try fileManager.subpathsOfDirectory(atPath: root.path) {
            let path = root.appendingPathComponent(relativePath).path
            let attributes = try fileManager.attributesOfItem(atPath: path)
            let type = attributes[.type] as? FileAttributeType
            if type == .typeRegular || type == .typeDirectory {
                try syncToDisk(path: path)
            }
        }
        try syncToDisk(path: root.path)
    }
}

private extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
