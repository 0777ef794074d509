import Model
import Testing

/// The `gradientsReady` reports of backward, which the trainer uses to start all-reducing gradients early.
@Suite("Backward progress reports (every family)")
struct BackwardProgressTests {
    typealias Kit = ModelTestKit

    /// Runs a backward that accumulates onto earlier gradients (as the last micro-batch of a step does) and records
    /// each reported range with a copy of its gradients at the moment of the report.
    private func reports(_ model: DecoderModel, _ batch: SequenceBatch) -> [(range: Range<Int>, values: [Float])] {
        _ = model.score(batch, training: true)
        model.zeroGradients()
        model.backward(dLogProbSums: [Float](repeating: 0.5, count: batch.count))
        _ = model.score(batch, training: true)
        var reports: [(range: Range<Int>, values: [Float])] = []
        model.backward(dLogProbSums: [Float](repeating: 1, count: batch.count)) { range in
            reports.append((range, Array(model.gradients[range])))
        }
        return reports
    }

    /// Every element is reported exactly once, and no gradient changes after its range was reported. GPT-2 (tied head)
    /// reports the final norm, each block from last to first, then the embeddings; an untied head comes first.
    @Test(arguments: Kit.tinyConfigs.indices)
    func reportedRangesCoverTheBufferOnceAndAreFinal(configIndex: Int) {
        let config = Kit.tinyConfigs[configIndex]
        let model = Kit.randomizedModel(config, seed: 5)
        let batch = Kit.batch(length: 6, promptLengths: [1, 2], completionLengths: [5, 3], vocab: config.vocabSize, seed: 8)
        let reported = reports(model, batch)

        var timesReported = [Int](repeating: 0, count: model.parameterCount)
        for (range, _) in reported { for index in range { timesReported[index] += 1 } }
        #expect(timesReported.allSatisfy { $0 == 1 }, "\(config.architecture): every element reported exactly once")
        for (range, values) in reported {
            #expect(Array(model.gradients[range]) == values, "\(config.architecture): \(range) changed after its report")
        }
        let headAndFinalNorm = config.tiedEmbeddings ? 1 : 2
        #expect(reported.count == headAndFinalNorm + config.layers + 1)
        // Backward finishes the buffer from its end: the ranges come in descending order.
        #expect(zip(reported, reported.dropFirst()).allSatisfy { $0.0.range.lowerBound >= $0.1.range.upperBound })
        #expect(reported.last?.range.lowerBound == 0)
    }

    @Test func aBatchWithNothingScoredReportsTheWholeBufferAtOnce() {
        let model = Kit.randomizedModel(Kit.tinyConfig, seed: 3)
        let batch = Kit.batch(length: 6, promptLengths: [2, 4], completionLengths: [0, 0], vocab: 11, seed: 4)
        _ = model.score(batch, training: true)
        var reported: [Range<Int>] = []
        model.backward(dLogProbSums: [1, 1]) { reported.append($0) }
        #expect(reported == [0 ..< model.parameterCount])
    }
}
