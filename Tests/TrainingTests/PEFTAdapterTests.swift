import Foundation
import Testing
import Checkpoint
import Kernels
import Model
import TestSupport
@testable import Training

/// PEFT adapter folders: PEFT's own read as PEFT computes with them, ours written as PEFT writes them, `merge`, and
/// `generate` on an adapter. The fixture is tools/make_lora_fixtures.py's: a starting adapter with random lora_A and
/// lora_B on every Linear layer of a tiny Llama, rank-stabilized, with the LM head and the input norms trained in full.
@Suite(.serialized) struct PEFTAdapterTests {
    let binary = productsDirectory.appendingPathComponent("dpo-dist")

    struct LogitsFile: Decodable {
        let inputIds: [[Int32]]
    }

    /// The fixture's two rows and PEFT's logits of them ([2 · length, vocab] flattened).
    private func peftLogits() throws -> (batch: SequenceBatch, logits: [Float]) {
        let file = try TRLFixture.decode(LogitsFile.self, "peft_logits.json", in: "lora")
        let tokens = file.inputIds.flatMap { $0 }
        let batch = SequenceBatch(count: file.inputIds.count, length: file.inputIds[0].count, tokens: tokens,
                                  scoreMask: [UInt8](repeating: 0, count: tokens.count))
        let logits = try #require(try SafeTensorsFile.read(contentsOf: TRLFixture.url("peft_logits.safetensors", in: "lora"))["logits"])
        return (batch, try logits.floats())
    }

    /// max |a − b| / max |b|, as the fixture script measures PEFT's own merge.
    private func maxRelativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        let scale = b.map { abs(Double($0)) }.max() ?? 1
        return zip(a, b).map { abs(Double($0) - Double($1)) }.max()! / scale
    }

    /// `PeftModel.from_pretrained`'s logits, from the adapters attached and from the base with them merged: within
    /// 1e-5 of PEFT's (PEFT's own merge moves its logits by 4e-6).
    @Test func adaptedAndMergedLogitsEqualPEFTs() throws {
        let space = try TRLFixture.loraWorkspace("lora_all_linear")
        let source = try ModelSource(folder: space.adapter.path)
        let (batch, expected) = try peftLogits()
        let adapted = try makeCausalLanguageModel(config: source.modelConfig, trainable: false, parallel: .serial)
        try loadWeights(from: try #require(source.folder), into: adapted)
        try adapted.attachAdapters(try #require(source.adapter).config.lora, seed: 0)
        try source.loadAdapter(into: adapted)
        #expect(adapted.adapters?.layout.targetModules.count == 14)
        #expect(maxRelativeDifference(adapted.logits(batch), expected) <= 1e-5)
        let merged = try source.loadMergedModel(parallel: .serial)
        #expect(merged.adapters == nil)
        #expect(maxRelativeDifference(merged.logits(batch), expected) <= 1e-5)
    }

    /// What dpo-dist writes of an adapter is what PEFT wrote: the same tensor names, shapes and values, and a config
    /// that reads back to the same LoRA settings and targets.
    @Test func writtenAdapterFoldersHoldWhatPEFTWrote() throws {
        let space = try TRLFixture.loraWorkspace("lora_all_linear")
        let source = try ModelSource(folder: space.adapter.path)
        let model = try makeCausalLanguageModel(config: source.modelConfig, trainable: false, parallel: .serial)
        try loadWeights(from: try #require(source.folder), into: model)
        let adapters = try model.attachAdapters(try #require(source.adapter).config.lora, seed: 0)
        try source.loadAdapter(into: model)
        let written = space.folder.appendingPathComponent("written")
        try FileManager.default.createDirectory(at: written, withIntermediateDirectories: true)
        try source.writeFolder(of: model, to: written)

        let (ours, oursWeights) = try PEFTAdapterFolder.read(written)
        let (peft, peftWeights) = try PEFTAdapterFolder.read(space.adapter)
        #expect(oursWeights.names.sorted() == peftWeights.names.sorted())
        #expect(oursWeights.metadata == ["format": "pt"])
        for name in peftWeights.names {
            let (a, b) = (try #require(oursWeights[name]), try #require(peftWeights[name]))
            #expect(a.shape == b.shape && a.dtype == .F32, "\(name)")
            #expect(try a.floats() == b.floats(), "\(name)")
        }
        #expect(ours.lora.rank == peft.lora.rank && ours.lora.alpha == peft.lora.alpha && ours.useRSLoRA && !ours.fanInFanOut)
        #expect(ours.modulesToSave == peft.modulesToSave)
        guard case .list(let targets) = ours.targetModules, case .list(let peftTargets) = peft.targetModules else {
            Issue.record("target_modules should be lists")
            return
        }
        #expect(targets == adapters.layout.targetModules && Set(targets) == Set(peftTargets))
        #expect(ours.baseModelNameOrPath == space.model.standardizedFileURL.path)
        for file in ["tokenizer.json", "tokenizer_config.json"] {
            #expect(FileManager.default.fileExists(atPath: written.appendingPathComponent(file).path))
        }
    }

    @Test func adapterConfigsWithFeaturesDPODistLacksAreRefused() throws {
        let json = try Data(contentsOf: TRLFixture.url("adapter_lora/adapter_config.json", in: "lora"))
        let parsed = try PEFTAdapterConfig(json: json, file: "adapter_config.json")
        #expect(parsed.rank == 4 && parsed.alpha == 8 && parsed.baseModelNameOrPath == "../model")
        #expect(parsed.targetModules == .list(["q_proj", "v_proj"]) || parsed.targetModules == .list(["v_proj", "q_proj"]))
        var object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        for (key, value) in [("use_dora", true as Any), ("bias", "all"), ("rank_pattern", ["q_proj": 2]),
                             ("layers_to_transform", [0])] {
            var changed = object
            changed[key] = value
            #expect(throws: PEFTAdapterError.self, "\(key)") {
                try PEFTAdapterConfig(json: try JSONSerialization.data(withJSONObject: changed), file: "adapter_config.json")
            }
        }
        object["peft_type"] = "IA3"
        #expect(throws: PEFTAdapterError.self) {
            try PEFTAdapterConfig(json: try JSONSerialization.data(withJSONObject: object), file: "adapter_config.json")
        }
    }

    /// `dpo-dist merge` writes a full Hugging Face folder with PEFT's logits; `generate` on the adapter folder gives
    /// the merged folder's greedy completion.
    @Test func mergeWritesTheMergedModelAndGenerateReadsAdapters() throws {
        let space = try TRLFixture.loraWorkspace("lora_all_linear")
        let merged = space.folder.appendingPathComponent("merged")
        let result = runProcess(binary, arguments: ["merge", "--adapter", space.adapter.path, "--output", merged.path,
                                                    "--threads", "1"], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let model = try loadModelFolder(merged.path, threads: 1)
        let (batch, expected) = try peftLogits()
        #expect(maxRelativeDifference(model.logits(batch), expected) <= 1e-5)
        #expect(FileManager.default.fileExists(atPath: merged.appendingPathComponent("tokenizer.json").path))

        func greedy(_ folder: URL) -> ProcessResult {
            runProcess(binary, arguments: ["generate", "--model_name_or_path", folder.path, "--prompt", "Q: Is ice cold?",
                                           "--max_new_tokens", "8", "--json", "--threads", "1"], timeout: 120)
        }
        let (fromAdapter, fromMerged) = (greedy(space.adapter), greedy(merged))
        #expect(fromAdapter.status == 0 && fromMerged.status == 0, "\(fromAdapter.stderr)\(fromMerged.stderr)")
        #expect(!fromAdapter.stdout.isEmpty && fromAdapter.stdout == fromMerged.stdout)

        let refused = runProcess(binary, arguments: ["merge", "--adapter", space.model.path, "--output", merged.path],
                                 timeout: 60)
        #expect(refused.status == 1 && refused.stderr.contains("needs a PEFT adapter folder"))
    }
}
