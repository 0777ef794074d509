import Foundation
import Checkpoint
import Distributed
import DPO
import Model
import MPI
import PreferenceData

/// Reference log-probs of every pair as the loss reads them, computed in one pass before training (TRL's
/// `precompute_ref_log_probs`, in forwards of `precompute_ref_batch_size` pairs), so no reference model stays in memory
/// during training.
///
/// The pass is split over all ranks and summed (each rank fills the rows of its share of the micro-batches in a zeroed
/// table, and x + 0 is exact),
/// and the result is cached on disk under a key made from the initial weights, every token id of the data and
/// the truncation settings: a second run or a resume with the same model, data and tokenization reads it back,
/// and any change to them misses the cache instead of reusing stale values.
struct PrecomputedReference {
    /// Per pair: chosen log-prob sum at 2·i, rejected at 2·i + 1.
    var train: [Float]
    var eval: [Float]

    static func load(policy: any CausalLanguageModel, train: [PreferenceRows], eval: [PreferenceRows],
                     config: TrainingConfig, communicator: Communicator,
                     batch: ([PreferenceRows]) -> SequenceBatch, say: (String) -> Void) throws -> PrecomputedReference {
        let key = cacheKey(policy: policy, train: train, eval: eval, config: config)
        let file = cacheDirectory(config).appendingPathComponent("ref-log-probs-\(key).safetensors")
        var tables = [[Float](repeating: 0, count: 2 * train.count), [Float](repeating: 0, count: 2 * eval.count)]
        var hit: UInt8 = 0
        if communicator.rank == 0, let cached = try? readCache(file, sizes: tables.map(\.count)) {
            tables = cached
            hit = 1
        }
        try withUnsafeMutableBytes(of: &hit) { try communicator.broadcast($0, root: 0) }
        if hit == 1 {
            for index in tables.indices {
                try tables[index].withUnsafeMutableBytes { try communicator.broadcast($0, root: 0) }
            }
            say("reference log-probs read from the cache \(file.path)")
            return PrecomputedReference(train: tables[0], eval: tables[1])
        }

        // The policy has not been updated yet, so it is the reference.
        let loss = config.dpoLoss
        let batchSizes = [config.precomputeRefBatchSize ?? config.perDeviceTrainBatchSize,
                          config.precomputeRefBatchSize ?? config.perDeviceEvalBatchSize]
        for (index, pairs) in [train, eval].enumerated() {
            for microBatch in communicator.share(of: chunks(Array(pairs.indices), size: batchSizes[index])) {
                let sums = loss.completionLogProbSums(policy.score(batch(microBatch.map { pairs[$0] }), training: false))
                for (row, pair) in microBatch.enumerated() {
                    tables[index][2 * pair] = Float(sums[row])
                    tables[index][2 * pair + 1] = Float(sums[row + microBatch.count])
                }
            }
            if communicator.size > 1 {
                try tables[index].withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
            }
        }
        try communicator.runOnRankZero { try writeCache(tables, to: file) }
        say("reference log-probs computed for \(train.count + eval.count) pairs and cached in \(file.path)")
        return PrecomputedReference(train: tables[0], eval: tables[1])
    }

    /// `precompute_ref_cache_dir`, else `$XDG_CACHE_HOME/dpo-dist` or `~/.cache/dpo-dist`.
    static func cacheDirectory(_ config: TrainingConfig) -> URL {
        if let configured = config.precomputeRefCacheDir {
            return URL(fileURLWithPath: configured)
        }
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return base.appendingPathComponent("dpo-dist")
    }

    /// Everything the reference log-probs depend on: the initial weights (and adapters), the exact token ids of every
    /// truncated row, where its prompt ends, the settings that decide how rows are cut and LD-DPO's weight of the
    /// verbose tails.
    static func cacheKey(policy: any CausalLanguageModel, train: [PreferenceRows], eval: [PreferenceRows],
                         config: TrainingConfig) -> String {
        var fingerprint = Fingerprint()
        fingerprint.add(UnsafeRawBufferPointer(policy.parameters))
        if let adapters = policy.adapters {
            fingerprint.add(UnsafeRawBufferPointer(adapters.parameters))
        }
        let tailWeight = config.ldAlpha.map { "|ld_alpha \($0)" } ?? ""
        fingerprint.add(Array("\(policy.config)|\(config.maxLength)|\(config.truncationMode.rawValue)\(tailWeight)".utf8))
        for pairs in [train, eval] {
            fingerprint.add([UInt8](repeating: 0xFF, count: 8))
            for pair in pairs {
                for row in [pair.chosen, pair.rejected] {
                    row.tokens.withUnsafeBytes { fingerprint.add($0) }
                    fingerprint.add([UInt8(row.tokens.count & 0xFF), UInt8(row.promptTokens & 0xFF), 0xFE])
                }
            }
        }
        return fingerprint.hex
    }

    private static func readCache(_ file: URL, sizes: [Int]) throws -> [[Float]] {
        let cached = try SafeTensorsFile.read(contentsOf: file)
        return try zip(["train", "eval"], sizes).map { name, size in
            guard let tensor = cached[name], tensor.elementCount == size else {
                throw RunError.input("\(file.path): cached tensor `\(name)` does not match the data")
            }
            return try tensor.floats()
        }
    }

    private static func writeCache(_ tables: [[Float]], to file: URL) throws {
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try tables[0].withUnsafeBufferPointer { train in
            try tables[1].withUnsafeBufferPointer { eval in
                try SafeTensorsFile.write([("train", [train.count], train), ("eval", [eval.count], eval)],
                                          metadata: ["format": "dpo-dist", "content": "reference log-prob sums"], to: file)
            }
        }
    }
}
