import Foundation
import Testing
@testable import PreferenceData
import TestSupport
import TokenizerFixtures
import Tokenizers
import ChatTemplate

// Parity with TRL 1.16's data preparation (`DPOTrainer._prepare_dataset`) and collation (`DataCollatorForPreference`)
// on every data format, with the fixture tokenizers and built-in chat templates. Fixtures/trl_tokenization.json is
// written by tools/make_trl_tokenization_fixtures.py.

struct TRLPreparationCase: Decodable, CustomTestStringConvertible {
    struct Pair: Decodable {
        let row: Int
        let promptIds: [Int32]
        let chosenIds: [Int32]
        let rejectedIds: [Int32]
    }

    struct Collated: Decodable {
        let inputIds: [[Int32]]
        let completionMask: [[UInt8]]
    }

    let name: String
    let tokenizer: String
    let chatTemplate: String?
    let chatTemplateSource: String?
    let maxLength: Int
    let truncationMode: TruncationMode
    let padTokenId: Int32
    let jsonl: String
    let pairs: [Pair]
    let promptTailLeftOutRows: [Int]
    let droppedRows: [Int]
    let collated: Collated

    var testDescription: String { name }

    static let all: [TRLPreparationCase] = {
        struct Fixture: Decodable { let cases: [TRLPreparationCase] }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let url = Bundle.module.resourceURL?.appendingPathComponent("Fixtures/trl_tokenization.json"),
              let data = try? Data(contentsOf: url), let fixture = try? decoder.decode(Fixture.self, from: data) else {
            return []
        }
        return fixture.cases
    }()
}

@Suite struct TRLDataPreparationTests {
    @Test func fixtureCoversEveryFormatAndRule() {
        let names = TRLPreparationCase.all.map(\.name)
        #expect(names.count == 9)
        #expect(TRLPreparationCase.all.contains { !$0.droppedRows.isEmpty })
        #expect(TRLPreparationCase.all.contains { !$0.promptTailLeftOutRows.isEmpty })
        #expect(TRLPreparationCase.all.contains { $0.truncationMode == .keepEnd })
    }

    @Test(arguments: TRLPreparationCase.all)
    func reproducesTRLTokenizedRowsAndCollatedBatch(_ fixture: TRLPreparationCase) throws {
        let folder = try TokenizerFixtures.folder(fixture.tokenizer).path
        let tokenizer = try HuggingFaceTokenizer(folder: folder)
        let template = try fixture.chatTemplate.map { try ChatTemplate.load(tokenizerConfig: folder, builtInName: $0) }
        #expect(template?.source == fixture.chatTemplateSource)

        let directory = try TemporaryDirectory()
        let file = try PreferenceDataset.load(path: directory.write("\(fixture.name).jsonl", fixture.jsonl))
        let texts = try file.pairTexts(eosToken: tokenizer.eosToken, chatTemplate: template)
        let settings = TokenizationSettings(maxLength: fixture.maxLength, truncationMode: fixture.truncationMode)

        // Which rows survive TRL's filter, and their ids, row by row.
        let all = texts.map { TokenizedPair($0, tokenizer: tokenizer) }
        #expect(all.indices.filter { !settings.keeps(all[$0]) } == fixture.droppedRows)
        let (pairs, dropped) = tokenizePairs(texts, tokenizer: tokenizer, settings: settings)
        #expect(dropped == fixture.droppedRows.count)
        try #require(pairs.count == fixture.pairs.count)
        for (pair, expected) in zip(pairs, fixture.pairs) {
            #expect(pair == TokenizedPair(prompt: expected.promptIds, chosen: expected.chosenIds,
                                          rejected: expected.rejectedIds), "row \(expected.row)")
        }

        // All kept pairs collated as one batch. TRL's completion_mask marks a completion token at position 0 too
        // (it is never scored there: its log-prob has no predictor); the score mask leaves it out.
        #expect(tokenizer.padTokenID == fixture.padTokenId)
        let rows = pairs.map { $0.rows(maxLength: fixture.maxLength, truncationMode: fixture.truncationMode) }
        let batch = padPreferenceBatch(rows, padTokenID: tokenizer.padTokenID)
        #expect(batch.length == fixture.collated.inputIds.first?.count)
        #expect(batch.tokens == fixture.collated.inputIds.flatMap { $0 })
        #expect(batch.scoreMask == fixture.collated.completionMask.flatMap { [0] + $0.dropFirst() })
    }
}
