import ArgumentParser
import Foundation
import Training

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "TRL's preference metrics of model folders, or of a run's checkpoints, against a reference model.",
        discussion: """
            Each model is a Hugging Face folder or a run's output_dir, which stands for its checkpoints (by step) \
            and then its final model. Prints one row per model with TRL's evaluation metric names (eval_loss, \
            eval_rewards/accuracies, eval_rewards/margins, …, eval_prefers_chosen); with --json one JSON object per \
            model.

            The reference defaults to the run's starting model, as the run's config.yaml records it (the first \
            model's run folder, or a checkpoint's own); that file is also the configuration (beta, loss_type, \
            max_length, eval_dataset, per_device_eval_batch_size, …) unless --config names another. Any config key \
            can be overridden as `--key value`, e.g. --eval_dataset pairs.jsonl --beta 0.2. With the run's \
            settings, ranks and threads, a checkpoint's row equals the eval_* record the run logged at its step.

            Runs under mpirun like train: the pairs are dealt over the ranks.
            """)

    @Option(name: .customLong("model_name_or_path"), parsing: .upToNextOption,
            help: "Model folders or run folders to evaluate, in order.")
    var models: [String]

    @Option(name: .customLong("ref_model"),
            help: "The reference model folder (default: the run's starting model, from its config.yaml).")
    var referenceModel: String?

    @Option(name: .long, help: "YAML config file (default: the run's config.yaml).")
    var config: String?

    @Flag(name: .long, help: "Print one JSON object per model instead of the table.")
    var json = false

    @Argument(parsing: .allUnrecognized, help: "Config overrides: --key value ...")
    var overrides: [String] = []

    func run() throws {
        let communicator = try RunOptions.startMPI()
        do {
            // With --json, stdout holds only the rows.
            let evaluation = try ModelEvaluation(models: models, referenceModel: referenceModel, configFile: config,
                                                 overrides: overrides, communicator: communicator) { [json] line in
                if json { FileHandle.standardError.write(Data((line + "\n").utf8)) } else { print(line) }
            }
            var printedRows = 0
            try evaluation.run { row in
                guard communicator.rank == 0 else { return }
                if !json && printedRows == 0 { print(evaluation.tableHeader) }
                print(json ? row.jsonLine : evaluation.tableLine(row))
                printedRows += 1
            }
            communicator.finalize()
        } catch {
            RunOptions.fail(error, communicator: communicator)
        }
    }
}
