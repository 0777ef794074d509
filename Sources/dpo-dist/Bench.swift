import ArgumentParser
import Benchmarks
import Distributed
import Foundation
import Kernels
import Model
import MPI
import Training

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the GEMM kernels and full DPO optimizer steps on random-weight models.",
        discussion: """
            For every --shape: GFLOP/s of the three products (forward, dinp, dweight) of each Linear layer one step
            runs, as a fraction of the per-core peak, then the median wall and CPU time of --steps DPO steps and
            tokens/s. Prints a table, or JSON with --json. The peak is measured with an in-register FMA loop unless
            given with --peak-gflops. See docs/performance.md.
            """)

    @Option(name: .long, help: "Model shape(s): \(BenchmarkShape.all.map(\.name).joined(separator: ", ")). Repeatable; default all.")
    var shape: [String] = []

    @Option(name: .long, help: "Threads the kernels may use.")
    var threads = 1

    @Option(name: .long, help: "Timed DPO steps per shape (after one warm-up step).")
    var steps = 3

    @Option(name: .long, help: "Timed calls per GEMM.")
    var repeats = 5

    @Flag(name: .long, help: "Only the GEMM kernels, no model steps.")
    var kernelsOnly = false

    @Flag(name: .long, help: "Skip the GEMM kernels, only model steps.")
    var stepsOnly = false

    @Flag(name: .long, help: "Steps with gradient checkpointing (each block's input kept, the block rerun in backward).")
    var gradientCheckpointing = false

    @Option(name: .long, help: "Steps training LoRA adapters of this rank (alpha 2r) on a frozen base instead of the whole model.")
    var loraR: Int?

    @Flag(name: .long, help: "With --lora-r: adapt every Linear layer, not only PEFT's default (GPT-2's c_attn).")
    var loraAllLinear = false

    @Option(name: .long, help: "Per-core peak GFLOP/s for the fraction of peak (default: measured).")
    var peakGflops: Double?

    @Flag(name: .long, help: "Print JSON instead of the table.")
    var json = false

    @Option(name: .long, help: "Instead: time loading this Hugging Face model folder (median of --repeats) and report peak memory.")
    var load: String?

    @Flag(name: .long, help: """
        Instead: under mpirun, time GPT-2-124M DPO steps without MPI, with one blocking gradient all-reduce and with         bucketed all-reduces overlapping backward, and report the exposed communication (--steps, --threads).
        """)
    var communication = false

    @Flag(name: .long, help: """
        Instead: under mpirun, an nccl-tests-style sweep of the in-place float all-reduce, flat and hierarchical: time,         algorithm and bus bandwidth, and checks, per message size (--min-bytes … --max-bytes, doubling).
        """)
    var allreduce = false

    @Option(name: .long, help: "With --allreduce: the smallest message in bytes (a multiple of 4).")
    var minBytes = 8

    @Option(name: .long, help: "With --allreduce: the largest message in bytes (two buffers of it per rank).")
    var maxBytes = 512 << 20

    @Option(name: .long, help: "With --allreduce: bytes per chunk of the hierarchical path (a multiple of 4).")
    var chunkBytes = 4 * HierarchicalAllReduce.defaultChunkCapacity

    @Option(name: .long, help: "With --communication: layers of the GPT-2-124M-shaped model (fewer runs faster).")
    var layers = 12

    @Option(name: .long, help: "With --communication: preference pairs per rank (2 rows each).")
    var pairsPerRank = 1

    @Option(name: .long, help: "With --communication: tokens per row (half prompt, half scored completion).")
    var length = 256

    @Option(name: .long, help: "With --communication: zero_stage of the steps (0 replicated, 1 AdamW moments sharded, 2 gradients too).")
    var zeroStage = ZeroStage.replicated

    @Flag(name: .long, help: "With --communication: only the bucketed gradient sum that training runs (e.g. for launch/memory.sh).")
    var bucketedOnly = false

    @Flag(name: .long, help: "With --communication: one reference model per node in shared memory (share_reference).")
    var shareReference = false

    @Option(name: .long, help: "With --communication: micro-batches per rank and step (gradient accumulation).")
    var accumulation = 1

    @Flag(name: .long, help: "With --communication: gradient checkpointing in the steps (training's default).")
    var checkpointing = false

    @Option(name: .long, help: "With --communication and --json: physical cores the job may use in all (default: this node's × nodes); efficiency is measured against them.")
    var coresAvailable: Int?

    @Flag(name: .long, help: "Instead: merge scaling points and all-reduce sweeps (the JSON files given) into CSV, JSON, SVG charts and the cost-model projection in --output.")
    var scalingReport = false

    @Option(name: .long, help: "With --scaling-report: the folder to write.")
    var output: String?

    @Argument(help: "With --scaling-report: the JSON files of launch/scaling.sh or launch/slurm-scaling.sbatch.")
    var files: [String] = []

    func validate() throws {
        if scalingReport, files.isEmpty || output == nil {
            throw ValidationError("--scaling-report needs --output FOLDER and at least one JSON file")
        }
        if !scalingReport, !files.isEmpty { throw ValidationError("file arguments are only for --scaling-report") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1 (got \(threads))") }
        guard steps >= 1, repeats >= 1 else { throw ValidationError("--steps and --repeats must be at least 1") }
        guard !(kernelsOnly && stepsOnly) else { throw ValidationError("--kernels-only and --steps-only exclude each other") }
        if let unknown = shape.first(where: { BenchmarkShape.named($0) == nil }) {
            throw ValidationError("unknown --shape '\(unknown)'; known: \(BenchmarkShape.all.map(\.name).joined(separator: ", "))")
        }
        if let peakGflops, !(peakGflops > 0) { throw ValidationError("--peak-gflops must be positive") }
        if let loraR, loraR < 1 { throw ValidationError("--lora-r must be at least 1") }
        if loraAllLinear, loraR == nil { throw ValidationError("--lora-all-linear needs --lora-r") }
        guard layers >= 1, pairsPerRank >= 1, length >= 2, accumulation >= 1, (coresAvailable ?? 1) >= 1 else {
            throw ValidationError("--layers, --pairs-per-rank, --accumulation and --cores-available must be at least 1 and --length at least 2")
        }
        guard minBytes >= 4, minBytes % 4 == 0, maxBytes >= minBytes, chunkBytes >= 4, chunkBytes % 4 == 0 else {
            throw ValidationError("--min-bytes and --chunk-bytes must be positive multiples of 4, --min-bytes at most --max-bytes")
        }
        guard length <= ModelConfig.gpt2Small.maxPositions else {
            throw ValidationError("--length \(length) exceeds GPT-2's \(ModelConfig.gpt2Small.maxPositions) positions")
        }
    }

    func run() throws {
        if let load {
            return try benchmarkLoading(load)
        }
        if scalingReport, let output {
            var report = ScalingReport()
            for file in files { try report.read(file) }
            try report.write(to: output)
            print(report.table)
            return print("wrote \(output)/scaling.csv, scaling.json, the SVG charts and tables.md"
                + (report.costModel == nil ? " (no projection: it needs a one-host all-reduce sweep and a 1-rank stage-0 point)" : ", projection.md"))
        }
        if communication {
            return try benchmarkCommunication()
        }
        if allreduce {
            return try benchmarkAllReduce()
        }
        let shapes = shape.isEmpty ? BenchmarkShape.all : shape.compactMap(BenchmarkShape.named)
        let peak = PeakEstimate(gflopsPerCore: peakGflops ?? measurePeakGFLOPS(),
                                source: peakGflops == nil ? "measured" : "given", flopsPerCycle: fmaFLOPsPerCycle)
        var report = BenchmarkReport(peak: peak)
        for shape in shapes {
            if !stepsOnly {
                report.gemm += benchmarkGEMMs(shape.linearLayers, threads: threads, repeats: repeats,
                                              peakGFLOPSPerCore: peak.gflopsPerCore)
            }
            if !kernelsOnly {
                report.steps.append(try benchmarkSteps(shape, variant: variant, threads: threads, steps: steps, warmup: 1))
            }
        }
        report.peakResidentMegabytes = Double(peakResidentBytes()) / 1_048_576
        print(json ? report.json() : report.table())
    }
}

extension Bench {
    /// What the timed steps train, from the flags.
    var variant: StepVariant {
        StepVariant(gradientCheckpointing: gradientCheckpointing, loraRank: loraR, loraAllLinear: loraAllLinear)
    }
}

extension Bench {
    /// Wall time to build the model from `config.json` and read its safetensors into the flat parameter buffer,
    /// and the process's peak resident memory against the model's own fp32 size.
    func benchmarkLoading(_ folder: String) throws {
        var seconds: [Double] = []
        var parameters = 0
        for _ in 0..<repeats {
            let start = Date()
            let model = try loadModelFolder(folder, threads: threads)
            seconds.append(Date().timeIntervalSince(start))
            parameters = model.parameterCount
        }
        seconds.sort()
        let median = seconds[seconds.count / 2]
        let peakMB = Double(peakResidentBytes()) / 1_048_576
        let modelMB = Double(parameters * MemoryLayout<Float>.size) / 1_048_576
        if json {
            print(#"{"folder": "\#(folder)", "parameters": \#(parameters), "median_seconds": \#(median), "#
                  + #""peak_resident_mb": \#(peakMB), "fp32_model_mb": \#(modelMB)}"#)
        } else {
            print(String(format: "%@: %d parameters loaded in %.3f s (median of %d); peak RSS %.0f MB for a %.0f MB fp32 model",
                         folder, parameters, median, repeats, peakMB, modelMB))
        }
    }
}

extension Bench {
    /// `AllReduceBenchmark` on every rank of this job; rank 0 prints the table or the JSON.
    func benchmarkAllReduce() throws {
        let communicator = try Communicator.world()
        var settings = AllReduceBenchmark.Settings()
        settings.minimumBytes = minBytes
        settings.maximumBytes = maxBytes
        settings.chunkCapacity = chunkBytes / 4
        let result = try AllReduceBenchmark.run(settings, communicator: communicator)
        if communicator.rank == 0 {
            print(json ? result.json() : result.table())
        }
        communicator.finalize()
    }
}

extension Bench {
    /// `CommunicationBenchmark` on every rank of this job; rank 0 prints the medians.
    func benchmarkCommunication() throws {
        let communicator = try Communicator.world()
        var model = ModelConfig.gpt2Small
        model.layers = layers
        var settings = CommunicationBenchmark.Settings(model: model)
        settings.steps = steps
        settings.threads = threads
        settings.pairsPerRank = pairsPerRank
        settings.sequenceLength = length
        settings.allReduceCounts = [ParameterLayout(config: model).parameterCount]
        settings.zeroStage = zeroStage
        settings.shareReference = shareReference
        if bucketedOnly {
            settings.modes = [.bucketed]
            settings.allReduceCounts = []
        }
        settings.accumulation = accumulation
        settings.gradientCheckpointing = checkpointing
        let loadBefore = ScalingPoint.loadAverage()
        let result = try CommunicationBenchmark.run(settings, communicator: communicator)
        let nodes = try NodeTopology(world: communicator).nodeCount
        if communicator.rank == 0 {
            print(json ? ScalingPoint(result, settings: settings, nodes: nodes, coresAvailable: coresAvailable,
                                      loadAverage: [loadBefore, ScalingPoint.loadAverage()]).json()
                       : result.summary)
        }
        communicator.finalize()
    }
}

/// `--zero-stage 0|1|2`.
extension ZeroStage: ExpressibleByArgument {}
