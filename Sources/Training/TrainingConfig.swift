import DPO
import Model
import Optimization
import PreferenceData

/// Every setting of a DPO run. Keys are TRL's `DPOConfig` / `TrainingArguments` names wherever TRL has the
/// setting, with TRL's defaults; the few settings of our own (`threads`, the built-in model shape) are marked.
public struct TrainingConfig: Sendable, Equatable {
    // Data
    /// A JSONL or JSON file of preference records (standard, conversational or implicit-prompt), or `demo`.
    public var trainDataset = "demo"
    /// Held-out pairs: a file, `demo` (the built-in held-out split), or nil for none.
    public var evalDataset: String? = nil
    public var maxLength = 1024
    /// Which end of an over-long prompt+completion to keep; current TRL's default is `keep_start`.
    public var truncationMode = TruncationMode.keepStart
    /// Ours: a built-in chat template (`ChatTemplate.builtInNames`) for conversational data, used instead of the model's.
    public var chatTemplate: String? = nil

    /// A Hugging Face model folder (config.json, safetensors, tokenizer files); nil trains the built-in model.
    public var modelNameOrPath: String? = nil

    // LoRA: TRL's `ModelConfig` keys, handed to PEFT's `LoraConfig` as TRL's `get_peft_config` does (bias "none").
    /// `use_peft`: train LoRA adapters on a frozen base, which is also the reference (adapters off).
    public var usePeft = false
    public var loraR = 16
    public var loraAlpha = 32.0
    public var loraDropout = 0.05
    /// Module names (one name: a regular expression over the whole module name, as TRL passes it on; `all-linear`);
    /// nil: PEFT's default for the family (q_proj and v_proj; GPT-2's c_attn).
    public var loraTargetModules: [String]? = nil
    public var loraModulesToSave: [String]? = nil
    public var useRSLoRA = false

    // Model (ours: the shape of the built-in GPT-2-architecture model; the vocabulary comes from the tokenizer)
    public var layers = 4
    public var heads = 4
    public var channels = 128
    public var maxPositions = 1024

    // DPO
    public var beta = 0.1
    public var labelSmoothing = 0.0
    /// `loss_type`: one loss or several, summed with `loss_weights` (all 1 when nil).
    public var lossTypes: [DPOLossType] = [.sigmoid]
    public var lossWeights: [Double]? = nil
    /// Older TRL's `reference_free`: every reference log-prob is taken as 0 (no reference forward).
    public var referenceFree = false
    /// `f_divergence_type` and its α (`f_alpha_divergence_coef`): f-DPO's regularizer.
    public var fDivergenceType = FDivergence.reverseKL
    public var fAlphaDivergenceCoef = 0.5
    /// `discopop_tau`: the temperature of the `discopop` loss.
    public var discopopTau = 0.05
    /// `ld_alpha`: LD-DPO's weight of the log-probs past the shorter completion's length (nil: every token weighs 1).
    public var ldAlpha: Double? = nil
    /// `use_weighting`: WPO's weighting of each pair by the policy's probability of its completions.
    public var useWeighting = false

    // Reference model
    public var precomputeRefLogProbs = false
    /// Pairs per forward when precomputing; nil: `per_device_train_batch_size` for the training set and
    /// `per_device_eval_batch_size` for the evaluation set.
    public var precomputeRefBatchSize: Int? = nil
    /// Ours: where precomputed reference log-probs are cached (default `~/.cache/dpo-dist`).
    public var precomputeRefCacheDir: String? = nil
    public var syncRefModel = false
    public var refModelMixupAlpha = 0.6
    public var refModelSyncSteps = 512

    // Optimization
    public var learningRate = 1e-6
    public var weightDecay = 0.0
    public var adamBeta1 = 0.9
    public var adamBeta2 = 0.999
    public var adamEpsilon = 1e-8
    public var maxGradNorm = 1.0
    public var lrSchedulerType = LearningRateSchedule.Kind.linear
    public var warmupSteps = 0
    public var warmupRatio = 0.0
    public var perDeviceTrainBatchSize = 8
    public var perDeviceEvalBatchSize = 8
    public var gradientAccumulationSteps = 1
    public var numTrainEpochs = 3.0
    public var maxSteps = -1
    public var seed = 42
    /// Order of the pairs in each epoch: a seeded permutation, or the file order (transformers'
    /// `train_sampling_strategy`; `sequential` reproduces a TRL run step for step).
    public var trainSamplingStrategy = Sampling.random

    public enum Sampling: String, Sendable, CaseIterable {
        case random, sequential
    }

    // Output
    public var outputDir = "output"
    /// Lets a fresh run delete the checkpoints an earlier run left in `output_dir` (otherwise refused).
    public var overwriteOutputDir = false
    public var loggingSteps = 10
    public var saveSteps = 500
    public var saveTotalLimit: Int? = nil
    public var evalSteps: Int? = nil
    /// transformers' `report_to` (default "none"): where metrics go besides metrics.jsonl (`ReportDestination`).
    public var reportTo: [ReportDestination] = []

    public enum ReportDestination: String, Sendable, CaseIterable {
        /// TensorBoard event files under `output_dir/runs/`, as transformers' TensorBoardCallback writes them.
        case tensorboard
        /// `output_dir/metrics.csv` (ours), one column per metric.
        case csv
    }

    /// TRL's `bf16`: every matrix product takes bf16-rounded inputs and accumulates in fp32, as PyTorch's CPU autocast
    /// does (`MatmulPrecision`); weights, gradients, AdamW state and the loss stay fp32. Without a bf16 kernel on the
    /// CPU the run says so and uses fp32.
    public var bf16 = false

    /// TRL's `gradient_checkpointing` (default on): a training forward keeps only each block's input and backward reruns
    /// the block — the same results bit for bit, less activation memory, one more trunk forward per micro-batch.
    public var gradientCheckpointing = true

    // Ours: threads per rank; 0 = cores of this node divided by the ranks on it.
    public var threads = 0
    /// transformers' `ddp_bucket_cap_mb` (PyTorch DDP's `bucket_cap_mb`, default 25 MiB): gradients are summed over ranks
    /// in buckets of this size, each started as soon as the last backward of a step has finished it; 0 = one blocking
    /// all-reduce of the whole buffer after the backward.
    public var ddpBucketCapMB = 25.0
    /// transformers' `ddp_timeout` in seconds (default 1800): a phase that waits on other ranks (a step's gradient sum,
    /// the metrics, an evaluation, a checkpoint) and outlives it ends the job, naming the rank and the phase; 0 = never.
    public var ddpTimeout = 1800.0
    /// Ours: what a step whose summed gradient is not finite does: `stop` the run (nothing of the step is applied), or
    /// `skip` its update, count it and go on. Weights made non-finite by an update always stop the run.
    public var nonfinitePolicy = NonfinitePolicy.stop

    public enum NonfinitePolicy: String, Sendable, CaseIterable {
        case stop, skip
    }

    /// Ours: how gradients are summed over ranks — `flat` (one MPI all-reduce over all ranks), `hierarchical` (within
    /// each node through shared memory, then among one leader per node), or `auto`: hierarchical when the ranks span
    /// several nodes and some node runs more than one of them.
    public var gradientAllreduce = GradientAllreduce.auto
    /// Ours: the ranks of a node share one read-only copy of the reference model in MPI shared memory.
    public var shareReference = true

    public enum GradientAllreduce: String, Sendable, CaseIterable {
        case auto, flat, hierarchical
    }

    /// DeepSpeed's ZeRO stage (OpenRLHF's `zero_stage`): 0 every rank holds all gradients and AdamW moments; 1 the
    /// moments are sharded over the ranks; 2 the gradients as well. One rank has nothing to shard and runs as 0.
    public var zeroStage = ZeroStage.optimizerStates

    public init() {}
}

extension TrainingConfig {
    /// The settings a resume may change (the optimizer's, the loss's and the run's length), by their keys: a change is
    /// said at resume and recorded in trainer_state.json. What the data order or the model depends on is checked
    /// separately and refused.
    var resumableSettings: [(key: String, value: String)] {
        [("beta", "\(beta)"), ("loss_type", lossTypes.map(\.rawValue).joined(separator: ",")),
         ("loss_weights", lossWeights.map { $0.map { "\($0)" }.joined(separator: ",") } ?? "none"),
         ("label_smoothing", "\(labelSmoothing)"), ("learning_rate", "\(learningRate)"),
         ("lr_scheduler_type", lrSchedulerType.rawValue), ("warmup_steps", "\(warmupSteps)"),
         ("warmup_ratio", "\(warmupRatio)"), ("weight_decay", "\(weightDecay)"), ("max_grad_norm", "\(maxGradNorm)"),
         ("adam_beta1", "\(adamBeta1)"), ("adam_beta2", "\(adamBeta2)"), ("adam_epsilon", "\(adamEpsilon)"),
         ("max_steps", "\(maxSteps)"), ("num_train_epochs", "\(numTrainEpochs)"), ("max_length", "\(maxLength)"),
         ("truncation_mode", truncationMode.rawValue)]
    }

    /// The loss these settings describe; `loss_weights` must already match `loss_type` (`ConfigLoader` checks).
    public var dpoLoss: DPOLoss {
        let weights = lossWeights ?? Array(repeating: 1, count: lossTypes.count)
        return DPOLoss(beta: beta, labelSmoothing: labelSmoothing,
                       terms: zip(lossTypes, weights).map { WeightedLossTerm($0, weight: $1) },
                       referenceFree: referenceFree, divergence: fDivergenceType,
                       alphaDivergenceCoefficient: fAlphaDivergenceCoef, discopopTau: discopopTau,
                       verboseTailWeight: ldAlpha, wpoWeighting: useWeighting)
    }

    /// The LoRA settings of `use_peft`, nil without it. TRL hands a one-element `lora_target_modules` to PEFT as a plain
    /// string, which PEFT takes as `all-linear` or a regular expression; a longer list matches names.
    public var lora: LoRAConfig? {
        guard usePeft else { return nil }
        let targets: LoRAConfig.Targets
        switch loraTargetModules {
        case nil: targets = .familyDefault
        case let names? where names.count == 1: targets = names[0] == "all-linear" ? .allLinear : .pattern(names[0])
        case let names?: targets = .names(names)
        }
        return LoRAConfig(rank: loraR, alpha: loraAlpha, dropout: loraDropout, targets: targets,
                          modulesToSave: loraModulesToSave ?? [], useRSLoRA: useRSLoRA)
    }

    /// AdamW's hyper-parameters besides the learning rate (`adam_beta1`, `adam_beta2`, `adam_epsilon`, `weight_decay`).
    public var adamW: AdamW.Settings {
        AdamW.Settings(beta1: adamBeta1, beta2: adamBeta2, epsilon: adamEpsilon, weightDecay: weightDecay)
    }
}
