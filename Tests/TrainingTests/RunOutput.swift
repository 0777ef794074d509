import Foundation
import Testing
import Checkpoint
import JSON
import TestSupport

/// Reading what a `dpo-dist` run wrote into its output folder.
enum RunOutput {
    /// Every record of `metrics.jsonl`, in order, with its numeric fields (read exactly, by the JSON target's parser).
    static func allRecords(in output: URL) throws -> [[String: Double]] {
        try String(contentsOf: output.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n").map {
            try JSONField.parse(Array($0.utf8), file: "metrics.jsonl").members().reduce(into: [:]) { record, member in
                record[member.key] = try? member.value.double()
            }
        }
    }

    /// The training records of `metrics.jsonl` (those with a loss), by step.
    static func records(in output: URL) throws -> [Int: [String: Double]] {
        try allRecords(in: output).filter { $0["loss"] != nil && $0["step"] != nil }
            .reduce(into: [:]) { $0[Int($1["step"]!)] = $1 }
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

    /// The evaluation records of metrics.jsonl by step.
    static func loggedEvaluations(in run: URL) throws -> [Int: [String: Double]] {
        try RunOutput.allRecords(in: run).filter { $0["eval_loss"] != nil }
            .reduce(into: [:]) { $0[Int($1["step"] ?? -1)] = $1 }
    }

    /// `eval --json`'s rows: model label → metrics.
    static func evaluationRows(_ result: ProcessResult) throws -> [(model: String, metrics: [String: Double])] {
        #expect(result.status == 0, "\(result.stderr)")
        return try result.stdout.split(separator: "\n").map { line in
            let object = try JSONField.parse(Array(line.utf8), file: "eval --json")
            let metrics = try object.members().reduce(into: [String: Double]()) { $0[$1.key] = try? $1.value.double() }
            return (try object.required("model").string(), metrics)
        }
    }

    /// Every eval_ metric of a row is the logged one, exactly.
    static func expectSameEvaluation(_ row: [String: Double], _ logged: [String: Double]?, _ what: String) throws {
        let logged = try #require(logged, "\(what): no logged evaluation")
        let names = logged.keys.filter { $0.hasPrefix("eval_") }
        #expect(names.count == 12 && Set(names) == Set(row.keys), "\(what): \(row.keys.sorted())")
        for name in names {
            #expect(row[name] == logged[name], "\(what) \(name): eval \(row[name] ?? .nan), training \(logged[name]!)")
        }
    }
}
