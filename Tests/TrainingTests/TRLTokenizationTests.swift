import Foundation
import Testing
import DPO
import Kernels
import Model
import PreferenceData
import Tokenizers
@testable import Training

@Suite struct TRLTokenizationTests {
    @Test func reproducesTRLsTokenizedDataset() throws {
        let tokenized = try TRLFixture.decode(TRLFixture.TokenizedFile.self, "tokenized.json")
        let tokenizer = try HuggingFaceTokenizer(folder: TRLFixture.url("tokenizer").path)
        let data = try TrainingData.tokenizedPairs(config: TRLFixture.config(tokenized), tokenizer: tokenizer)

        #expect(data.droppedTrainExamples == tokenized.droppedRows.count)
        try #require(data.train.count == tokenized.pairs.count)
        for (pair, expected) in zip(data.train, tokenized.pairs) {
            #expect(pair == TokenizedPair(prompt: expected.promptIds, chosen: expected.chosenIds,
                                          rejected: expected.rejectedIds), "raw row \(expected.row)")
        }
        // Which raw rows were dropped: the kept rows are all the others, in order.
        let rawRows = try String(contentsOf: TRLFixture.url("pairs.jsonl"), encoding: .utf8)
            .split(separator: "\n").count
        #expect(tokenized.pairs.map(\.row) == (0..<rawRows).filter { !tokenized.droppedRows.contains($0) })
    }

    @Test func reproducesTRLsFirstCollatedBatch() throws {
        let tokenized = try TRLFixture.decode(TRLFixture.TokenizedFile.self, "tokenized.json")
        let expected = try TRLFixture.decode(TRLFixture.InitialLogProbs.self, "initial_logps.json").firstBatch
        let tokenizer = try HuggingFaceTokenizer(folder: TRLFixture.url("tokenizer").path)
        let config = try TRLFixture.config(tokenized)
        let untruncated = try TrainingData.tokenizedPairs(config: config, tokenizer: tokenizer)
        let data = try TrainingData.pairs(config: config, tokenizer: tokenizer)
        let pairs = expected.rows.map { data.train[$0] }

        let batch = SequenceBatch(pairs: pairs, padTokenID: tokenizer.padTokenID)
        #expect(batch.count == expected.inputIds.count)
        #expect(batch.length == expected.inputIds.first?.count)
        #expect(batch.tokens == expected.inputIds.flatMap { $0 })
        // Position 0 is never scored (TRL's mask may mark it, but its log-prob has no predictor).
        #expect(batch.scoreMask == expected.completionMask.flatMap { [0] + $0.dropFirst() })

        // Token counts are of the truncated rows: TRL's num_tokens (attention mask) and scored chosen tokens.
        #expect(pairs.reduce(0) { $0 + $1.tokenCount } == expected.attentionMask.joined().reduce(0, +))
        let chosenScored = expected.completionMask.prefix(pairs.count).map { $0.dropFirst().reduce(0) { $0 + Int($1) } }
        #expect(pairs.reduce(0) { $0 + $1.chosen.scoredTokens } == chosenScored.reduce(0, +))
        // the fixture does cut chosen rows
        #expect(expected.rows.map { untruncated.train[$0].chosen.count }.reduce(0, +) > chosenScored.reduce(0, +))
    }
}

@Suite struct TrainingDataFormatTests {
    private func write(_ text: String, _ name: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dpo-data-\(UUID().uuidString)-\(name)")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    private let conversation = #"{"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Hello"}], "#
        + #""rejected": [{"role": "assistant", "content": "Go"}]}"#

    @Test func conversationalDataWithoutATemplateNamesTheFileAndTheKey() throws {
        var config = TrainingConfig()
        config.trainDataset = try write(conversation + "\n", "chat.jsonl")
        let error = try #require(throws: RunError.self) { try TrainingData.pairs(config: config, tokenizer: ByteTokenizer()) }
        #expect(error.description.hasPrefix("`train_dataset` \(config.trainDataset) is conversational"))
        #expect(error.description.contains("set `chat_template` to one of chatml, llama3, zephyr"))
    }

    @Test func chatTemplateKeyRendersConversationalData() throws {
        var config = try ConfigLoader.load(file: nil, overrides: ["--chat_template", "chatml"])
        #expect(config.chatTemplate == "chatml")
        config.trainDataset = try write(conversation + "\n", "chat.jsonl")
        config.evalDataset = nil
        let data = try TrainingData.tokenizedPairs(config: config, tokenizer: ByteTokenizer())
        let tokenizer = ByteTokenizer()
        #expect(data.train.map { tokenizer.decode($0.prompt) } == ["<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"])
        #expect(data.train.map { tokenizer.decode($0.chosen) } == ["Hello<|im_end|>\n"])

        let unknown = try #require(throws: ConfigError.self) {
            try ConfigLoader.load(file: nil, overrides: ["--chat_template", "vicuna"])
        }
        #expect(unknown.description == #"command line --chat_template: `chat_template` must be one of chatml, llama3, zephyr, got "vicuna""#)
    }

    /// SFT keeps one truncated row per example: the demo's chosen replies, as the pair path cuts their chosen rows.
    @Test func sftExamplesAreOneTruncatedRowEach() throws {
        var config = TrainingConfig()
        config.maxLength = 40
        config.evalDataset = "demo"
        let completions = try TrainingData.completions(config: config, tokenizer: ByteTokenizer())
        let pairs = try TrainingData.pairs(config: config, tokenizer: ByteTokenizer())
        #expect(completions.train == pairs.train.map(\.chosen))
        #expect(completions.eval == pairs.eval.map(\.chosen))
        #expect(completions.droppedTrainExamples == pairs.droppedTrainExamples)
        #expect(completions.train.allSatisfy { $0.tokens.count <= 40 })
    }

    @Test func maxPromptLengthIsRejectedWithTheReason() throws {
        let error = try #require(throws: ConfigError.self) {
            try ConfigLoader.load(file: nil, overrides: ["--max_prompt_length", "64"])
        }
        #expect(error.description.hasPrefix("command line --max_prompt_length: `max_prompt_length` was removed from TRL's DPOConfig"))
        #expect(error.description.contains("truncation_mode"))
    }

    /// Rows that score no token at all (a completion cut away entirely, or an empty prompt leaving the only
    /// completion token at position 0) must give finite losses and gradients for every loss type.
    @Test(arguments: [(TruncationMode.keepStart, 6, [1, 0, 1, 0]), (.keepEnd, 1, [0, 0, 0, 0])])
    func fullyTruncatedCompletionsGiveFiniteLossesAndGradients(mode: TruncationMode, maxLength: Int,
                                                               scoredPerRow: [Int]) throws {
        let tokenizer = ByteTokenizer()
        var config = TrainingConfig()
        config.maxLength = maxLength
        config.truncationMode = mode
        let pairs = [
            TokenizedPair(prompt: tokenizer.encode("Hello"), chosen: tokenizer.encode("!!"), rejected: tokenizer.encode("?")),
            TokenizedPair(prompt: [], chosen: [tokenizer.eosTokenID], rejected: [tokenizer.eosTokenID]),
        ].map { $0.rows(maxLength: config.maxLength, truncationMode: config.truncationMode) }
        let batch = SequenceBatch(pairs: pairs, padTokenID: tokenizer.padTokenID)
        #expect((0..<batch.count).map { row in
            batch.scoreMask[(row * batch.length)..<((row + 1) * batch.length)].reduce(0) { $0 + Int($1) }
        } == scoredPerRow)

        let modelConfig = ModelConfig.gpt2(vocabSize: tokenizer.vocabSize, maxPositions: 8, layers: 1, heads: 2, channels: 8)
        let parallel = Parallel(threads: 1)
        let policy = try makeCausalLanguageModel(config: modelConfig, trainable: true, parallel: parallel)
        policy.initializeRandomly(seed: 1)
        let reference = try makeCausalLanguageModel(config: modelConfig, trainable: false, parallel: parallel)
        reference.copyParameters(from: policy)
        for type in DPOLossType.allCases {
            let loss = DPOLoss(beta: 0.1, labelSmoothing: type == .exoPair ? 1e-3 : 0, terms: [WeightedLossTerm(type)])
            // The second batch has only the empty-prompt pair: not one chosen token is scored in it.
            for batchPairs in [pairs, [pairs[1]]] {
                policy.zeroGradients()
                let normalization = LossNormalization(pairs: batchPairs.count,
                                                      chosenTokens: batchPairs.reduce(0) { $0 + $1.chosen.scoredTokens })
                let sums = DPOStep(loss: loss).run(
                    policy: policy, reference: .model(reference),
                    batch: SequenceBatch(pairs: batchPairs, padTokenID: tokenizer.padTokenID),
                    normalization: normalization, train: true)
                #expect(sums.loss.isFinite, "\(type.rawValue)")
                let gradientsAreFinite = policy.gradients.allSatisfy { $0.isFinite }
                #expect(gradientsAreFinite, "\(type.rawValue)")
            }
        }
    }
}
