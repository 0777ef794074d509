import Foundation
import Testing
import Checkpoint

/// A writer that puts one file with `contents` (and a nested directory) into the checkpoint.
private func writeState(_ contents: String) -> (URL) throws -> Void {
    { directory in
        try AtomicFile.write(Data(contents.utf8), to: directory.appendingPathComponent("trainer_state.json"))
        let nested = directory.appendingPathComponent("optimizer", isDirectory: true)
        try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: false)
        try Data([1, 2, 3]).write(to: nested.appendingPathComponent("moments.bin"))
    }
}

private func state(in checkpoint: URL) throws -> String {
    try String(decoding: Data(contentsOf: checkpoint.appendingPathComponent("trainer_state.json")), as: UTF8.self)
}

private struct WriterFailure: Error {}

@Suite struct AtomicFileTests {
    @Test func writesAndReplacesWithoutLeftovers() throws {
        try withScratchDirectory { directory in
            let url = directory.appendingPathComponent("state.json")
            try AtomicFile.write(Data("first".utf8), to: url)
            try AtomicFile.write(Data("second".utf8), to: url)
            #expect(try Data(contentsOf: url) == Data("second".utf8))
            let names = try entries(of: directory)
            #expect(names == ["state.json"])
        }
    }

    @Test func missingDirectoryIsAnIOError() throws {
        try withScratchDirectory { directory in
            let url = directory.appendingPathComponent("absent/state.json")
            let error = try #require(throws: CheckpointError.self) { try AtomicFile.write(Data(), to: url) }
            guard case let .io(operation, _, code) = error else { Issue.record("unexpected \(error)"); return }
            #expect(operation == "create")
            #expect(code == ENOENT)
        }
    }
}

@Suite struct CheckpointDirectoryTests {
    @Test func saveCreatesOutputDirAndPublishesACompleteCheckpoint() throws {
        try withScratchDirectory { root in
            let checkpoints = CheckpointDirectory(outputDir: root.appendingPathComponent("run/out"))
            #expect(try checkpoints.latest() == nil)
            let saved = try checkpoints.save(step: 10, writer: writeState("ten"))
            #expect(saved.lastPathComponent == "checkpoint-10")
            #expect(saved.standardizedFileURL == checkpoints.url(step: 10).standardizedFileURL)
            #expect(try state(in: saved) == "ten")
            let contents = try entries(of: saved)
            #expect(contents == [CheckpointDirectory.completionMarker, "optimizer", "trainer_state.json"])
            let outputEntries = try entries(of: checkpoints.outputDir)
            #expect(outputEntries == ["checkpoint-10"])
            #expect(try checkpoints.latest()?.lastPathComponent == "checkpoint-10")
        }
    }

    @Test func latestAndAllOrderByStepNumerically() throws {
        try withScratchDirectory { root in
            let checkpoints = CheckpointDirectory(outputDir: root)
            for step in [100, 9, 20] {
                try checkpoints.save(step: step, writer: writeState("\(step)"))
            }
            #expect(try checkpoints.all().map(\.step) == [9, 20, 100])
            #expect(try checkpoints.all().map(\.url.lastPathComponent) == ["checkpoint-9", "checkpoint-20", "checkpoint-100"])
            #expect(try checkpoints.latest()?.lastPathComponent == "checkpoint-100")
        }
    }

    @Test func listingIgnoresIncompleteTemporaryAndForeignEntries() throws {
        try withScratchDirectory { root in
            let checkpoints = CheckpointDirectory(outputDir: root)
            try checkpoints.save(step: 5, writer: writeState("five"))
            let fileManager = FileManager.default
            // Higher steps that must not count: no marker, temporary name, non-canonical numbers, a plain file.
            for name in ["checkpoint-50", ".tmp-checkpoint-60-123", "checkpoint-070", "checkpoint-+80", "checkpoint-x", "other-90"] {
                let directory = root.appendingPathComponent(name)
                try fileManager.createDirectory(at: directory, withIntermediateDirectories: false)
                if name != "checkpoint-50" {
                    try Data().write(to: directory.appendingPathComponent(CheckpointDirectory.completionMarker))
                }
            }
            try Data().write(to: root.appendingPathComponent("checkpoint-99"))
            #expect(try checkpoints.all().map(\.step) == [5])
            #expect(try checkpoints.latest()?.lastPathComponent == "checkpoint-5")
        }
    }

    @Test func nextSaveCleansLeftoverTemporaryDirectories() throws {
        try withScratchDirectory { root in
            let checkpoints = CheckpointDirectory(outputDir: root)
            let leftover = root.appendingPathComponent(".tmp-checkpoint-7-4242")
            try FileManager.default.createDirectory(at: leftover, withIntermediateDirectories: false)
            try Data([0]).write(to: leftover.appendingPathComponent("model.safetensors"))
            try checkpoints.save(step: 8, writer: writeState("eight"))
            let names = try entries(of: root)
            #expect(names == ["checkpoint-8"])
        }
    }

    @Test func replacingAStepKeepsOnlyTheNewCopy() throws {
        try withScratchDirectory { root in
            let checkpoints = CheckpointDirectory(outputDir: root)
            try checkpoints.save(step: 3, writer: writeState("old"))
            let saved = try checkpoints.save(step: 3, writer: writeState("new"))
            #expect(try state(in: saved) == "new")
            let names = try entries(of: root)
            #expect(names == ["checkpoint-3"])
        }
    }

    @Test func throwingWriterPublishesNothingAndKeepsTheOldCheckpoint() throws {
        try withScratchDirectory { root in
            let checkpoints = CheckpointDirectory(outputDir: root)
            try checkpoints.save(step: 1, writer: writeState("one"))
            #expect(throws: WriterFailure.self) {
                try checkpoints.save(step: 2) { directory in
                    try Data([1]).write(to: directory.appendingPathComponent("partial.bin"))
                    throw WriterFailure()
                }
            }
            #expect(throws: WriterFailure.self) {
                try checkpoints.save(step: 1) { _ in throw WriterFailure() }
            }
            let names = try entries(of: root)
            #expect(names == ["checkpoint-1"])
            #expect(try state(in: checkpoints.url(step: 1)) == "one")
        }
    }

    @Test func checkpointMovedAsideByAnInterruptedReplaceIsListedAndRestored() throws {
        try withScratchDirectory { root in
            let checkpoints = CheckpointDirectory(outputDir: root)
            try checkpoints.save(step: 4, writer: writeState("four"))
            // Simulate a crash between "move old checkpoint-4 aside" and "rename the new one in".
            let aside = root.appendingPathComponent(".replaced-checkpoint-4-999")
            try FileManager.default.moveItem(at: checkpoints.url(step: 4), to: aside)
            try FileManager.default.createDirectory(at: root.appendingPathComponent(".tmp-checkpoint-4-999"),
                                                    withIntermediateDirectories: false)
            #expect(try checkpoints.latest()?.lastPathComponent == ".replaced-checkpoint-4-999")

            try checkpoints.save(step: 5, writer: writeState("five"))
            let names = try entries(of: root)
            #expect(names == ["checkpoint-4", "checkpoint-5"])
            #expect(try state(in: checkpoints.url(step: 4)) == "four")
        }
    }

    @Test func staleMovedAsideCopyIsDeletedWhenTheStepIsPublished() throws {
        try withScratchDirectory { root in
            let checkpoints = CheckpointDirectory(outputDir: root)
            try checkpoints.save(step: 6, writer: writeState("new six"))
            // A crash after the new checkpoint-6 was renamed in, before the old copy was deleted.
            let aside = root.appendingPathComponent(".replaced-checkpoint-6-999")
            try FileManager.default.createDirectory(at: aside, withIntermediateDirectories: false)
            try Data().write(to: aside.appendingPathComponent(CheckpointDirectory.completionMarker))
            #expect(try checkpoints.all().map(\.url.lastPathComponent) == ["checkpoint-6"])

            try checkpoints.save(step: 7, writer: writeState("seven"))
            let names = try entries(of: root)
            #expect(names == ["checkpoint-6", "checkpoint-7"])
            #expect(try state(in: checkpoints.url(step: 6)) == "new six")
        }
    }

    @Test func pruneKeepsTheNewestCheckpoints() throws {
        try withScratchDirectory { root in
            let checkpoints = CheckpointDirectory(outputDir: root)
            for step in [1, 2, 3, 4] {
                try checkpoints.save(step: step, writer: writeState("\(step)"))
            }
            let removed = try checkpoints.prune(keepLast: 2)
            #expect(removed.map(\.lastPathComponent) == ["checkpoint-1", "checkpoint-2"])
            let names = try entries(of: root)
            #expect(names == ["checkpoint-3", "checkpoint-4"])
            #expect(try checkpoints.prune(keepLast: 5).isEmpty)
            #expect(throws: CheckpointError.invalidKeepLast(0)) { try checkpoints.prune(keepLast: 0) }
        }
    }

    @Test func negativeStepIsRejected() throws {
        try withScratchDirectory { root in
            let checkpoints = CheckpointDirectory(outputDir: root)
            #expect(throws: CheckpointError.invalidStep(-1)) { try checkpoints.save(step: -1, writer: writeState("")) }
            let names = try entries(of: root)
            #expect(names.isEmpty)
        }
    }

    @Test func safetensorsCheckpointRoundTripsThroughTheDirectory() throws {
        try withScratchDirectory { root in
            let checkpoints = CheckpointDirectory(outputDir: root)
            let weights: [Float] = (0..<1000).map { Float($0) * 0.5 - 7 }
            try checkpoints.save(step: 12) { directory in
                try writeF32([(name: "wte", shape: [10, 100], values: weights)], metadata: ["step": "12"],
                             to: directory.appendingPathComponent("model.safetensors"))
            }
            let latest = try #require(try checkpoints.latest())
            let file = try SafeTensorsFile.read(contentsOf: latest.appendingPathComponent("model.safetensors"))
            #expect(file.metadata == ["step": "12"])
            #expect(try file.tensor(named: "wte").floats() == weights)
        }
    }
}
