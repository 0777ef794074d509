import Training

/// A cost model of a data-parallel DPO step, fitted from measurements on this machine and used to project larger runs.
///
/// Communication: a sum over n ranks of S bytes costs t = α + 2(n − 1)/n · S / B (the ring all-reduce's, or ZeRO's
/// reduce-scatter plus all-gather, which move the same bytes), with α and B fitted by least squares from a
/// `bench --allreduce` sweep. Across nodes the sum is hierarchical: within a node at the intra-node α, B, then among
/// the node leaders at the inter-node α and the link's bandwidth, then a broadcast within the node (counted with the
/// first part). Nothing overlaps the compute (the hierarchical sum is blocking), so the projection is an upper bound
/// on the step.
/// Compute: 8 FLOPs per parameter and token (policy forward and backward 6, reference forward 2) at the FLOP rate
/// measured here per core. Optimizer: the measured seconds per parameter per core, over the parameters a rank owns.
/// Memory per rank: policy 4P, gradients 4P (ZeRO-2: 4P/n), moments 8P (ZeRO ≥ 1: 8P/n), reference 4P (shared: 4P
/// per node, divided among its ranks), activations the measured bytes per token × layer × width.
public struct CostModel: Sendable {
    /// One fitted line t = α + x / B, x = 2(n − 1)/n · S.
    public struct Link: Sendable, Equatable {
        public var latencySeconds: Double
        public var bytesPerSecond: Double

        public init(latencySeconds: Double, bytesPerSecond: Double) {
            self.latencySeconds = latencySeconds
            self.bytesPerSecond = bytesPerSecond
        }

        /// Least squares over (bytes, seconds) measured at `ranks` ranks; nil with fewer than two distinct sizes or a
        /// slope that is not positive.
        public static func fit(_ samples: [(bytes: Int, seconds: Double)], ranks: Int) -> Link? {
            let factor = 2 * Double(ranks - 1) / Double(max(ranks, 1))
            let xs = samples.map { factor * Double($0.bytes) }, ys = samples.map(\.seconds)
            let count = Double(xs.count)
            guard xs.count >= 2 else { return nil }
            let meanX = xs.reduce(0, +) / count, meanY = ys.reduce(0, +) / count
            let sxx = zip(xs, xs).map { ($0 - meanX) * ($1 - meanX) }.reduce(0, +)
            let sxy = zip(xs, ys).map { ($0 - meanX) * ($1 - meanY) }.reduce(0, +)
            guard sxx > 0, sxy > 0 else { return nil }
            let slope = sxy / sxx
            return Link(latencySeconds: max(0, meanY - slope * meanX), bytesPerSecond: 1 / slope)
        }

        /// Seconds to sum `bytes` over `ranks` ranks.
        public func sumSeconds(bytes: Double, ranks: Int) -> Double {
            ranks <= 1 ? 0 : latencySeconds + 2 * Double(ranks - 1) / Double(ranks) * bytes / bytesPerSecond
        }
    }

    /// A model's shape, as far as the projection needs it.
    public struct Shape: Sendable {
        public var name: String
        public var parameters: Double
        public var layers: Int
        public var width: Int

        public init(name: String, parameters: Double, layers: Int, width: Int) {
            self.name = name
            self.parameters = parameters
            self.layers = layers
            self.width = width
        }

        public static let gpt2Small = Shape(name: "GPT-2-124M", parameters: 124_439_808, layers: 12, width: 768)
        /// Qwen2-0.5B's config (24 layers, width 896, vocabulary 151,936, tied embeddings).
        public static let qwen2HalfB = Shape(name: "Qwen2-0.5B", parameters: 494_032_768, layers: 24, width: 896)
        /// Qwen2-1.5B's config (28 layers, width 1536, vocabulary 151,936, tied embeddings).
        public static let qwen2OneAndHalfB = Shape(name: "Qwen2-1.5B", parameters: 1_543_714_304, layers: 28, width: 1536)
    }

    public var intraNode: Link
    /// Fitted from namespace hosts joined by veth pairs: its latency is used, its bandwidth is a memory copy's, not a
    /// NIC's, so the projection takes the bandwidth from `linkGbps` instead.
    public var interNodeLatencySeconds: Double
    /// FLOP/s of one core on the DPO step, measured.
    public var flopsPerSecondPerCore: Double
    /// Optimizer-phase seconds per parameter on one core, measured.
    public var optimizerSecondsPerParameterPerCore: Double
    /// Activation bytes per token, layer and unit of width at the peak, measured (peak PSS minus the fp32 state).
    public var activationBytesPerTokenLayerWidth: Double

    public init(intraNode: Link, interNodeLatencySeconds: Double, flopsPerSecondPerCore: Double,
                optimizerSecondsPerParameterPerCore: Double, activationBytesPerTokenLayerWidth: Double) {
        self.intraNode = intraNode
        self.interNodeLatencySeconds = interNodeLatencySeconds
        self.flopsPerSecondPerCore = flopsPerSecondPerCore
        self.optimizerSecondsPerParameterPerCore = optimizerSecondsPerParameterPerCore
        self.activationBytesPerTokenLayerWidth = activationBytesPerTokenLayerWidth
    }

    /// Where and how a projected run trains.
    public struct Run: Sendable {
        public var ranks: Int
        public var ranksPerNode = 8
        public var coresPerRank = 8
        public var tokensPerRankPerStep = 8192
        /// Tokens in one micro-batch (what the activations hold at once).
        public var tokensPerMicroBatch = 1024
        public var linkGbps: Double
        public var zero: ZeroStage = .replicated
        public var shareReference = false

        public init(ranks: Int, linkGbps: Double) {
            self.ranks = ranks
            self.linkGbps = linkGbps
        }
    }

    public struct Projection: Sendable, Equatable {
        public var computeSeconds: Double
        public var communicationSeconds: Double
        public var optimizerSeconds: Double
        public var stepSeconds: Double { computeSeconds + communicationSeconds + optimizerSeconds }
        /// Compute over the step: the share of the ideal linear speedup reached.
        public var efficiency: Double { computeSeconds / stepSeconds }
        public var memoryBytesPerRank: Double
    }

    public func project(_ shape: Shape, _ run: Run) -> Projection {
        let p = shape.parameters, n = Double(run.ranks)
        let compute = 8 * p * Double(run.tokensPerRankPerStep) / (flopsPerSecondPerCore * Double(run.coresPerRank))
        let gradientBytes = 4 * p
        let perNode = min(run.ranksPerNode, run.ranks)
        let nodes = (run.ranks + run.ranksPerNode - 1) / run.ranksPerNode
        let inter = Link(latencySeconds: interNodeLatencySeconds, bytesPerSecond: run.linkGbps * 1e9 / 8)
        let communication = intraNode.sumSeconds(bytes: gradientBytes, ranks: perNode)
            + inter.sumSeconds(bytes: gradientBytes, ranks: nodes)
        let owned = run.zero == .replicated ? p : p / n
        let optimizer = optimizerSecondsPerParameterPerCore * owned / Double(run.coresPerRank)
        var memory = 4 * p + (run.zero == .gradients ? 4 * p / n : 4 * p) + (run.zero == .replicated ? 8 * p : 8 * p / n)
        memory += run.shareReference ? 4 * p / Double(perNode) : 4 * p
        memory += activationBytesPerTokenLayerWidth * Double(run.tokensPerMicroBatch * shape.layers * shape.width)
        return Projection(computeSeconds: compute, communicationSeconds: communication, optimizerSeconds: optimizer,
                          memoryBytesPerRank: memory)
    }
}
