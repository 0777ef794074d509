import Foundation
import Testing
import Checkpoint
import TestSupport

/// `dpo-dist sft` end to end: it learns, it is the same on 1 and 2 ranks, and its output starts a DPO run.
@Suite(.serialized) struct SFTTests {
    let binary = productsDirectory.appendingPathComponent("dpo-dist")

    private func workspace() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dpo-sft-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let lines = (0..<16).map { index in
            #"{"prompt": "Count \#(index):", "completion": " \#(index), \#(index + 1), \#(index + 2)."}"#
        }
        try (lines.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("sft.jsonl"),
                                                         atomically: true, encoding: .utf8)
        try """
            train_dataset: \(folder.path)/sft.jsonl
            max_length: 48
            model:
              n_layer: 2
              n_head: 2
              n_embd: 16
              n_positions: 48
            learning_rate: 1.0e-2
            lr_scheduler_type: constant
            logging_steps: 1
            save_steps: 0
            seed: 5
            threads: 1

            """.write(to: folder.appendingPathComponent("sft.yaml"), atomically: true, encoding: .utf8)
        return folder
    }

    @Test(.enabled(if: mpirunAvailable))
    func learnsAndAgreesAcrossRanks() throws {
        let folder = try workspace()
        let config = folder.appendingPathComponent("sft.yaml").path
        let single = folder.appendingPathComponent("single"), double = folder.appendingPathComponent("double")
        let one = runProcess(binary, arguments: ["sft", "--config", config, "--output_dir", single.path, "--max_steps", "6",
                                                 "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "4"],
                             timeout: 300)
        #expect(one.status == 0, "\(one.stderr)")
        let (launcher, arguments) = mpirunCommand(ranks: 2, executable: binary, arguments: [
            "sft", "--config", config, "--output_dir", double.path, "--max_steps", "6",
            "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2"])
        let two = runProcess(launcher, arguments: arguments, timeout: 300)
        #expect(two.status == 0, "\(two.stderr)")
        let singleLosses = try RunOutput.lossSequence(in: single), doubleLosses = try RunOutput.lossSequence(in: double)
        #expect(singleLosses.count == 6)
        #expect(singleLosses.last! < singleLosses.first! - 0.5, "\(singleLosses)")
        for (a, b) in zip(singleLosses, doubleLosses) {
            #expect(abs(a - b) <= 1e-5 * abs(a), "\(a) vs \(b)")
        }
        // The SFT model starts a DPO run (the SFT → DPO pipeline of post-training).
        let pairs = folder.appendingPathComponent("pairs.jsonl")
        try #"{"prompt": "Count 1:", "chosen": " 1, 2, 3.", "rejected": " 7, 3, 9."}"#.write(to: pairs, atomically: true, encoding: .utf8)
        let dpo = runProcess(binary, arguments: ["train", "--config", config, "--model_name_or_path", single.path,
                                                 "--train_dataset", pairs.path, "--max_steps", "1",
                                                 "--output_dir", folder.appendingPathComponent("dpo").path], timeout: 300)
        #expect(dpo.status == 0, "\(dpo.stderr)")
        #expect(dpo.stdout.contains("prefers_chosen"), "\(dpo.stdout)")
    }
}
