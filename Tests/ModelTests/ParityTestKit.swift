import Checkpoint
import Foundation
import Kernels
import Model
import Testing

// Shared machinery of the parity tests against PyTorch/transformers (ParityTests.swift): fixture loading, the
// per-tensor comparison and the sigmoid DPO loss. The fixtures are made by tools/make_gpt2_fixtures.py and
// tools/make_llama_fixtures.py (shared code in tools/parity_fixtures.py).

/// The parity case's JSON part (<prefix>_case.json).
struct ParityCase: Decodable {
    let rows: Int
    let length: Int
    let tokens: [[Int32]]
    let scoreMask: [[UInt8]]
    let beta: Double
    let policyLogProbSums: [Float]
    let referenceLogProbSums: [Float]
    let loss: Double
    let chosenRewards: [Float]
    let rejectedRewards: [Float]
    let lossGradientWithRespectToPolicyLogProbSums: [Float]
    let policyEntropySums: [Float]
    let policyCorrectTokenCounts: [Int]

    var batch: SequenceBatch {
        SequenceBatch(count: rows, length: length, tokens: tokens.flatMap { $0 }, scoreMask: scoreMask.flatMap { $0 })
    }
}

/// Loads the fixture files of one case (file names `<prefix>_…`) from the test bundle's "Fixtures" folder.
struct ParityFixtures {
    let prefix: String

    static func url(_ fileName: String) throws -> URL {
        let url = try #require(Bundle.module.resourceURL).appendingPathComponent("Fixtures/\(fileName)")
        try #require(FileManager.default.fileExists(atPath: url.path), "missing fixture \(url.path)")
        return url
    }

    func parityCase() throws -> ParityCase {
        try JSONDecoder().decode(ParityCase.self, from: Data(contentsOf: Self.url("\(prefix)_case.json")))
    }

    /// `<prefix>_<name>.safetensors`.
    func safeTensors(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile.read(contentsOf: Self.url("\(prefix)_\(name).safetensors"))
    }

    /// The case's config.json as transformers wrote it.
    func configJSON() throws -> Data {
        try Data(contentsOf: Self.url("\(prefix)_config.json"))
    }

    /// A model built from the case's config.json with the weights of `<prefix>_<weights>.safetensors`
    /// (Hugging Face names and layout).
    func model(_ weights: String, trainable: Bool) throws -> any CausalLanguageModel {
        let model = try makeCausalLanguageModel(huggingFaceConfig: configJSON(), trainable: trainable, parallel: .serial)
        let file = try safeTensors(weights)
        try model.loadHuggingFaceTensors(into: model.parameters) { name in
            try file[name].map { (shape: $0.shape, values: try $0.floats()) }
        }
        return model
    }
}

/// The worst element of `actual` against `expected` under the per-tensor tolerance described in ParityTests.swift.
struct ParityCheck {
    static let relativeTolerance = 1e-4

    let name: String
    let worstIndex: Int
    let worstActual: Float
    let worstExpected: Float
    let maxAbsoluteError: Double
    let scale: Double

    /// `actual` and `expected` must have the same, non-zero count (checked by `expectParity`).
    init(_ name: String, actual: [Float], expected: [Float]) {
        var worst = 0
        var maxError = -1.0
        var scale = 0.0
        for index in expected.indices {
            let error = abs(Double(actual[index]) - Double(expected[index]))
            if !(error <= maxError) { (worst, maxError) = (index, error) }   // also catches NaN
            scale = max(scale, abs(Double(expected[index])))
        }
        self.name = name
        worstIndex = worst
        worstActual = actual[worst]
        worstExpected = expected[worst]
        maxAbsoluteError = maxError
        self.scale = scale
    }

    var relativeError: Double { maxAbsoluteError / scale }
    var passes: Bool { maxAbsoluteError <= Self.relativeTolerance * scale }

    var report: String {
        "\(name): max|Δ| \(maxAbsoluteError) = \(relativeError) × max|expected| \(scale) (tolerance \(Self.relativeTolerance));"
            + " worst element [\(worstIndex)] actual \(worstActual) expected \(worstExpected)"
    }
}

/// Records an issue naming the tensor and its worst element when it is outside tolerance.
func expectParity(_ name: String, actual: [Float], expected: [Float], sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual.count == expected.count, !expected.isEmpty else {
        Issue.record("\(name): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    let check = ParityCheck(name, actual: actual, expected: expected)
    if !check.passes { Issue.record(Comment(rawValue: check.report), sourceLocation: sourceLocation) }
}

/// Sigmoid DPO on summed log-probs, written out here because the DPO target is not a dependency of ModelTests.
/// Rows 0..<pairs are chosen, pairs..<2·pairs rejected. margin_i = (π_c − ref_c) − (π_r − ref_r);
/// loss = mean_i −log σ(β·margin_i); d loss/d π_c,i = −β·σ(−β·margin_i)/pairs and d loss/d π_r,i = +β·σ(−β·margin_i)/pairs.
struct SigmoidDPO {
    let loss: Double
    let chosenRewards: [Float]
    let rejectedRewards: [Float]
    let dLogProbSums: [Float]

    init(policy: [Float], reference: [Float], beta: Double) {
        let pairs = policy.count / 2
        let rewards = policy.indices.map { beta * (Double(policy[$0]) - Double(reference[$0])) }
        var loss = 0.0
        var dLogProbSums = [Float](repeating: 0, count: policy.count)
        for pair in 0..<pairs {
            let x = rewards[pair] - rewards[pair + pairs]   // β·margin
            loss += x >= 0 ? log1p(exp(-x)) : -x + log1p(exp(x))   // −log σ(x), stable for either sign
            let weight = beta / (1 + exp(x)) / Double(pairs)          // β·σ(−x)/pairs
            dLogProbSums[pair] = Float(-weight)
            dLogProbSums[pair + pairs] = Float(weight)
        }
        self.loss = loss / Double(pairs)
        chosenRewards = rewards[..<pairs].map { Float($0) }
        rejectedRewards = rewards[pairs...].map { Float($0) }
        self.dLogProbSums = dLogProbSums
    }
}
