import Kernels
import Model
import Testing

@Suite("Key/value cache (every family)")
struct KeyValueCacheTests {
    typealias Kit = ModelTestKit

    /// Every family and option combination, with room for 40-token sequences.
    static let configs = Kit.tinyConfigs.map(Kit.long)

    /// The logits of every position of `tokens`, run as a prefill of `prefill` tokens and then `step` tokens per call.
    private func incrementalLogits(_ model: DecoderModel, _ tokens: [Int32], prefill: Int, step: Int) throws -> [Float] {
        let cache = try model.makeKeyValueCache(capacity: tokens.count)
        var logits = try model.logits(continuing: Array(tokens[..<prefill]), cache: cache, allPositions: true)
        for start in stride(from: prefill, to: tokens.count, by: step) {
            let end = min(tokens.count, start + step)
            logits += try model.logits(continuing: Array(tokens[start ..< end]), cache: cache, allPositions: true)
        }
        #expect(cache.count == tokens.count)
        return logits
    }

    /// ‖actual − expected‖ / ‖expected‖ of each position's logits ≤ 1e-5: the cached path sums in another order.
    private func expectEqualPerPosition(_ actual: [Float], _ expected: [Float], vocab: Int, _ label: String) {
        #expect(actual.count == expected.count, "\(label): \(actual.count) logits, expected \(expected.count)")
        for position in 0 ..< min(actual.count, expected.count) / vocab {
            let rows = position * vocab ..< (position + 1) * vocab
            let error = Kit.relativeError(Array(actual[rows]), Array(expected[rows]))
            #expect(error <= 1e-5, "\(label), position \(position): relative error \(error)")
        }
    }

    @Test(arguments: Self.configs.indices)
    func cachedLogitsEqualTheFullForwardAtEveryPosition(configIndex: Int) throws {
        let config = Self.configs[configIndex]
        let model = Kit.randomizedModel(config, seed: 21, trainable: false)
        let tokens = Kit.batch(length: 40, promptLengths: [40], completionLengths: [0], vocab: config.vocabSize,
                               seed: 5).tokens
        let full = model.logits(SequenceBatch(count: 1, length: tokens.count, tokens: tokens,
                                              scoreMask: [UInt8](repeating: 0, count: tokens.count)))
        for (prefill, step) in [(1, 1), (7, 1), (12, 5), (40, 1)] {
            expectEqualPerPosition(try incrementalLogits(model, tokens, prefill: prefill, step: step), full,
                                   vocab: config.vocabSize, "\(config.architecture), prefill \(prefill), step \(step)")
        }
    }

    /// Generation's calls: the prompt's last logits, then one token at a time; a reset cache starts a new sequence.
    @Test func lastPositionLogitsAndResetStartAgain() throws {
        let config = Self.configs[1]
        let model = Kit.randomizedModel(config, seed: 22, trainable: false, parallel: Parallel(threads: 2))
        let tokens: [Int32] = [3, 1, 4, 1, 5, 9, 2, 6]
        let full = try incrementalLogits(model, tokens, prefill: tokens.count, step: 1)
        let V = config.vocabSize
        let cache = try model.makeKeyValueCache(capacity: 12)
        for _ in 0 ..< 2 {
            let last = try model.logits(continuing: Array(tokens[..<5]), cache: cache, allPositions: false)
            expectEqualPerPosition(last, Array(full[4 * V ..< 5 * V]), vocab: V, "prompt's last position")
            for t in 5 ..< tokens.count {
                let next = try model.logits(continuing: [tokens[t]], cache: cache, allPositions: false)
                expectEqualPerPosition(next, Array(full[t * V ..< (t + 1) * V]), vocab: V, "step at position \(t)")
            }
            cache.reset()
        }
    }

    @Test func capacitiesAndContinuationsOutOfRangeAreDescribed() throws {
        let config = Kit.tinyConfig  // 6 positions
        let model = Kit.randomizedModel(config, seed: 23, trainable: false)
        #expect(throws: ModelError.invalidKeyValueCache("capacity 7 exceeds the model's 6 positions")) {
            try model.makeKeyValueCache(capacity: 7)
        }
        #expect(throws: ModelError.invalidKeyValueCache("capacity must be positive (got 0)")) {
            try model.makeKeyValueCache(capacity: 0)
        }
        let cache = try model.makeKeyValueCache(capacity: 4)
        _ = try model.logits(continuing: [1, 2, 3], cache: cache, allPositions: false)
        #expect(throws: ModelError.invalidKeyValueCache("3 cached positions and 2 new tokens exceed the capacity of 4 positions")) {
            try model.logits(continuing: [4, 5], cache: cache, allPositions: false)
        }
        #expect(throws: ModelError.invalidKeyValueCache("no tokens to continue the sequence with")) {
            try model.logits(continuing: [], cache: cache, allPositions: false)
        }
        #expect(throws: ModelError.self) { try model.logits(continuing: [11], cache: cache, allPositions: false) }
        #expect(cache.count == 3, "a refused continuation leaves the cache as it was")
    }
}
