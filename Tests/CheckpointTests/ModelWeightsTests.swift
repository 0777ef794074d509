import Foundation
import Testing
@testable import Checkpoint

@Suite struct ModelWeightsTests {
    /// A folder written by transformers' save_pretrained with a tiny max_shard_size (tools/make_sharded_fixture.py).
    @Test func readsEveryTensorOfAShardedSavePretrainedFolder() throws {
        let folder = try fixtureURL("sharded")
        let weights = try ModelWeights.open(folder: folder)
        #expect(weights.files.count == 6)
        let expected = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: folder.appendingPathComponent("expected.json"))) as? [String: [String: Any]])
        #expect(weights.names == expected.keys.sorted())
        for (name, facts) in expected {
            let tensor = try #require(weights[name], "\(name) missing")
            #expect(tensor.shape == facts["shape"] as? [Int])
            let sum = try tensor.floats().reduce(0.0) { $0 + Double($1) }
            let expectedSum = try #require(facts["sum"] as? Double)
            #expect(abs(sum - expectedSum) <= 1e-5 * max(1, abs(expectedSum)), "\(name): \(sum) vs \(expectedSum)")
        }
        #expect(weights["no.such.tensor"] == nil)
    }

    @Test func prefersTheSingleFileWhenPresent() throws {
        try withScratchDirectory { folder in
            try writeF32([("a", [2], [1, 2])], to: folder.appendingPathComponent(ModelWeights.singleFile))
            let weights = try ModelWeights.open(folder: folder)
            #expect(weights.names == ["a"])
            #expect(try weights["a"]?.floats() == [1, 2])
        }
    }

    @Test func folderProblemsAreNamed() throws {
        try withScratchDirectory { folder in
            #expect(throws: WeightsError.noWeights(folder: folder.path, hasPyTorchWeights: false)) {
                try ModelWeights.open(folder: folder)
            }
            try Data([0]).write(to: folder.appendingPathComponent("pytorch_model.bin"))
            let message = "\(WeightsError.noWeights(folder: folder.path, hasPyTorchWeights: true))"
            #expect(message.contains("safe_serialization=True"))

            let index = folder.appendingPathComponent(ModelWeights.indexFile)
            func openingError(withIndex json: String) throws -> String? {
                try json.write(to: index, atomically: true, encoding: .utf8)
                do {
                    _ = try ModelWeights.open(folder: folder)
                    return nil
                } catch {
                    return "\(error)"
                }
            }
            #expect(try openingError(withIndex: "{")
                    == "\(index.path): malformed JSON at line 1, column 2: expected a string key")
            #expect(try openingError(withIndex: #"{"metadata": {}}"#) == "\(index.path): no \"weight_map\" object")
            #expect(try openingError(withIndex: #"{"weight_map": {"a": "../x.safetensors"}}"#)
                    == "\(index.path): shard \"../x.safetensors\" of \"a\" is not a file name in the folder")
            #expect(try openingError(withIndex: #"{"weight_map": {"a": "one.safetensors"}}"#)
                    == "\(index.path): lists shard one.safetensors, which is not in the folder")
            try writeF32([("b", [1], [3])], to: folder.appendingPathComponent("one.safetensors"))
            #expect(try openingError(withIndex: #"{"weight_map": {"a": "one.safetensors"}}"#)
                    == "\(index.path): tensor \"a\" is listed in one.safetensors but that file does not contain it")
            #expect(try openingError(withIndex: #"{"weight_map": {"b": "one.safetensors"}}"#) == nil)
        }
    }
}
