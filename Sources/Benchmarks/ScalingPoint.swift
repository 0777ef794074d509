import Foundation

/// One point of a scaling study (`dpo-dist bench --communication --bucketed-only --json`, run by launch/scaling.sh and
/// launch/slurm-scaling.sbatch): the trainer's step at one rank count, its time split into compute, exposed
/// communication and optimizer, throughput, and every rank's peak PSS. `dpo-dist bench --scaling-report` merges them.
public struct ScalingPoint: Codable, Sendable {
    /// "strong" or "weak", added by launch/scaling-point.sh.
    public var mode: String?
    public var date: String
    public var host: String
    public var ranks: Int
    public var nodes: Int
    public var threadsPerRank: Int
    /// Physical cores the job could use in all; more busy threads than these means the point is oversubscribed.
    public var coresAvailable: Int
    public var oversubscribed: Bool
    public var zeroStage: String
    public var shareReference: Bool
    public var gradientCheckpointing: Bool
    public var layers: Int
    public var parameters: Int
    public var pairsPerMicroBatch: Int
    public var sequenceLength: Int
    public var accumulation: Int
    public var tokensPerStep: Int
    public var stepSeconds: Double
    /// Forward and backward: the step minus the time in MPI calls and in the optimizer phase.
    public var computeSeconds: Double
    /// Time inside the gradient sum's and the all-gather's MPI calls, i.e. communication not hidden by compute.
    public var exposedCommunicationSeconds: Double
    public var optimizerSeconds: Double
    public var tokensPerSecond: Double
    /// Largest peak PSS of any rank, and the sum over ranks, in MiB.
    public var peakPssMibLargest: Double
    public var peakPssMibSum: Double
    /// The largest rank's PSS split at its peak: anonymous, file-backed, shared memory (MiB).
    public var peakPssPartsMib: [Double]
    /// /proc/loadavg's 1-minute figure before and after the point.
    public var loadAverage: [Double]

    public init(_ result: CommunicationBenchmark.Result, settings: CommunicationBenchmark.Settings, nodes: Int,
                coresAvailable: Int?, loadAverage: [Double]) {
        let mode = settings.modes.first { result.medianStepSeconds[$0] != nil } ?? .bucketed
        let step = result.medianStepSeconds[mode] ?? 0
        let inMPI = result.medianSecondsInMPI[mode] ?? 0
        let optimizer = result.medianSecondsInOptimizer[mode] ?? 0
        let cores = coresAvailable ?? ProcessInfo.processInfo.activeProcessorCount * nodes
        let formatter = ISO8601DateFormatter()
        date = formatter.string(from: Date())
        host = ProcessInfo.processInfo.hostName
        ranks = result.ranks
        self.nodes = nodes
        threadsPerRank = settings.threads
        self.coresAvailable = cores
        oversubscribed = result.ranks * settings.threads > cores
        zeroStage = result.zeroStage.rawValue
        shareReference = settings.shareReference
        gradientCheckpointing = settings.gradientCheckpointing
        layers = settings.model.layers
        parameters = result.parameterCount
        pairsPerMicroBatch = settings.pairsPerRank
        sequenceLength = settings.sequenceLength
        accumulation = settings.accumulation
        tokensPerStep = result.tokensPerStep
        stepSeconds = step
        exposedCommunicationSeconds = inMPI
        optimizerSeconds = optimizer
        computeSeconds = max(0, step - inMPI - optimizer)
        tokensPerSecond = step > 0 ? Double(result.tokensPerStep) / step : 0
        let largest = result.peakPSSKiB.max { $0[0] < $1[0] }
        peakPssMibLargest = Double(largest?[0] ?? 0) / 1024
        peakPssMibSum = Double(result.peakPSSKiB.map { $0[0] }.reduce(0, +)) / 1024
        peakPssPartsMib = (largest?.dropFirst() ?? []).map { Double($0) / 1024 }
        self.loadAverage = loadAverage
    }

    /// The 1-minute load average (0 where /proc/loadavg is missing).
    public static func loadAverage() -> Double {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))
            .flatMap { $0.split(separator: " ").first.flatMap { Double($0) } } ?? 0
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}
