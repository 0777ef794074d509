import ArgumentParser
import Diagnostics
import Distributed
import Foundation
import MPI
import Training

@main
struct DPODist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dpo-dist",
        abstract: "Distributed Direct Preference Optimization on CPUs, one process or many under mpirun.",
        version: "dpo-dist 0.4.0 (checkpoint format \(Trainer.checkpointFormat))",
        subcommands: [Train.self, SFT.self, Eval.self, Report.self, Generate.self, Merge.self, Bench.self])

    /// Console output goes out line by line even when stdout is a file or a pipe (batch jobs, nohup, tee), so the log
    /// is live and survives a kill; C stdio would otherwise buffer it in 4 KiB blocks.
    static func main() {
        setvbuf(stdout, nil, _IOLBF, 0)
        main(nil)
    }
}

/// What `train` and `sft` share: a config file, `--resume`, and `--key value` overrides of any config key.
struct RunOptions: ParsableArguments {
    @Option(name: .long, help: "YAML config file.")
    var config: String?

    @Flag(name: .long, help: "Continue from the latest checkpoint in output_dir.")
    var resume = false

    @Argument(parsing: .allUnrecognized, help: "Config overrides: --key value ...")
    var overrides: [String] = []

    /// Loads the config and trains; errors end every rank cleanly (see `fail`).
    func run(_ objective: Trainer.Objective, demoOverrides: [String] = []) throws {
        let communicator = try Self.startMPI()
        do {
            // Every rank reads the config; a rank that cannot (a file missing on its node) ends all of them alike.
            let trainingConfig = try communicator.onEveryRank {
                try ConfigLoader.load(file: config, overrides: overrides, demoOverrides: demoOverrides)
            }
            let trainer = try Trainer(objective: objective, config: trainingConfig, communicator: communicator) { print($0) }
            let outcome = try trainer.train(resume: resume)
            if communicator.rank == 0 {
                switch outcome {
                case .finished(let report): print(report.summary)
                case .stopped: print(outcome.stopMessage ?? "")
                }
            }
            communicator.finalize()
        } catch {
            Self.fail(error, communicator: communicator)
        }
    }

    /// MPI's world communicator (one process without mpirun); exit code 2 when MPI cannot start.
    static func startMPI() throws -> Communicator {
        do {
            return try Communicator.world()
        } catch {
            FileHandle.standardError.write(Data("error: cannot start MPI: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// An error every rank raises identically (`IdenticalOnEveryRank`: config, data, model, resume mismatch,
    /// divergence, a rank-0 failure already shared) is printed once by rank 0 and every rank exits cleanly. Anything
    /// else may be rank-local: that rank reports it with its number and aborts the whole job rather than let the
    /// other ranks hang.
    static func fail(_ error: Error, communicator: Communicator) -> Never {
        let identical = error is any IdenticalOnEveryRank
        if communicator.rank == 0 || !identical {
            let prefix = communicator.size > 1 && !identical ? "error (rank \(communicator.rank)): " : "error: "
            FileHandle.standardError.write(Data((prefix + "\(error)\n").utf8))
        }
        if identical || communicator.size == 1 {
            communicator.finalize()
            Foundation.exit(1)
        }
        communicator.abort(code: 1)
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a policy with DPO.",
        discussion: """
            With no --config, trains the built-in demo (configs/demo.yaml). Any config key can be overridden
            as `--key value` or `--key=value`, with the same names as in the YAML file (TRL's DPOConfig names,
            nested keys dotted: --model.n_layer 6).
            Run on N ranks with `mpirun -n N dpo-dist train ...` (see launch/local.sh).
            """)

    @OptionGroup var options: RunOptions

    func run() throws {
        try options.run(.dpo)
    }
}

struct SFT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "Supervised fine-tuning on prompt/completion data, with the same engine and config keys.",
        discussion: """
            Data: JSONL or JSON records {"prompt", "completion"} (strings, or message lists rendered with the chat
            template) or {"messages"} (the last assistant message is the completion). The loss is the mean negative
            log-likelihood of the completion tokens, as TRL's SFTTrainer computes it by default. DPO keys (beta,
            loss_type, …) are ignored. With no --config, fine-tunes the demo model on the demo's chosen replies into
            runs/demo-sft; follow it with `dpo-dist train --config configs/demo.yaml --model_name_or_path runs/demo-sft --output_dir runs/demo-dpo` for the SFT → DPO pipeline.
            """)

    @OptionGroup var options: RunOptions

    func run() throws {
        try options.run(.sft, demoOverrides: ["--output_dir", "runs/demo-sft"])
    }
}
