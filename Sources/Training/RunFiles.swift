import Foundation
import Checkpoint

/// What a run writes into `output_dir` besides models and metrics, for `dpo-dist eval` and `dpo-dist report`.
extension Trainer {
    /// Writes the resolved configuration as `folder/config.yaml` (rank 0's work): the run folder's says what ran, a
    /// checkpoint's what made it.
    func writeResolvedConfig(to folder: URL) throws {
        let yaml = try ConfigLoader.resolvedYAML(of: config)
        try AtomicFile.write(Data(yaml.utf8), to: folder.appendingPathComponent(ConfigLoader.resolvedFileName))
    }
}
