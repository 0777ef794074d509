import Foundation
import Testing
import Checkpoint

/// Reading what a `dpo-dist` run wrote into its output folder.
enum RunOutput {
    /// The training records of `metrics.jsonl` (those with a loss), by step.
    static func records(in output: URL) throws -> [Int: [String: Double]] {
        var records: [Int: [String: Double]] = [:]
        for line in try String(contentsOf: output.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard let step = object["step"] as? Int, object["loss"] != nil else { continue }
            records[step] = object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
        }
        return records
    }

    /// The logged training loss by step.
    static func losses(in output: URL) throws -> [Int: Double] {
        try records(in: output).compactMapValues { $0["loss"] }
    }

    /// The logged training losses in step order.
    static func lossSequence(in output: URL) throws -> [Double] {
        try losses(in: output).sorted { $0.key < $1.key }.map(\.value)
    }

    /// Every tensor of the model folder (single or sharded safetensors), by name.
    static func tensors(in folder: URL) throws -> [String: [Float]] {
        let weights = try ModelWeights.open(folder: folder)
        var result: [String: [Float]] = [:]
        for name in weights.names {
            result[name] = try #require(weights[name]).floats()
        }
        return result
    }
}
