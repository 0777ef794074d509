import Foundation
import RunReport
import Training

/// Merges scaling points (`ScalingPoint` JSON, from launch/scaling.sh or launch/slurm-scaling.sbatch) and all-reduce
/// sweeps (`bench --allreduce --json`) into scaling.csv, scaling.json, SVG charts and projection.md (`CostModel`).
public struct ScalingReport {
    public var points: [ScalingPoint] = []
    /// Each sweep with the file it came from.
    public var sweeps: [(name: String, result: AllReduceBenchmark.Result)] = []

    public init() {}

    /// Reads one file of either kind; throws naming the file when it is neither.
    public mutating func read(_ path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        if let point = try? decoder.decode(ScalingPoint.self, from: data) {
            points.append(point)
        } else if let sweep = try? JSONDecoder().decode(AllReduceBenchmark.Result.self, from: data) {
            sweeps.append(((path as NSString).lastPathComponent, sweep))
        } else {
            throw ScalingReportError(description:
                "\(path): neither a scaling point (bench --communication --json) nor an all-reduce sweep (bench --allreduce --json)")
        }
    }

    /// Points that differ only in the rank count form one series.
    static func series(of point: ScalingPoint) -> String {
        "\(point.mode ?? "?") \(point.nodes > 1 ? "\(point.nodes) hosts" : "1 host") " + configuration(of: point)
    }

    /// What a run trains and keeps, whatever the ranks and hosts: efficiency is against the fewest-rank point of it.
    static func configuration(of point: ScalingPoint) -> String {
        "zero\(point.zeroStage)"
            + (point.shareReference ? " shared-ref" : "") + (point.gradientCheckpointing ? " ckpt" : "")
            + " L\(point.layers)×\(point.sequenceLength)"
    }

    /// Cores a point keeps busy: its threads, at most the physical cores.
    static func coresUsed(_ point: ScalingPoint) -> Double {
        Double(min(point.ranks * point.threadsPerRank, point.coresAvailable))
    }

    /// Speedup over the point with the fewest ranks of the same mode and configuration (on one host), divided by the growth in cores used.
    public func efficiency(_ point: ScalingPoint) -> Double {
        let base = points.filter { $0.mode == point.mode && Self.configuration(of: $0) == Self.configuration(of: point) }
            .min { ($0.ranks, $0.nodes) < ($1.ranks, $1.nodes) }!
        return (point.tokensPerSecond / base.tokensPerSecond) / (Self.coresUsed(point) / Self.coresUsed(base))
    }

    public var csv: String {
        var lines = ["series,mode,ranks,nodes,threads_per_rank,cores_available,oversubscribed,zero_stage,share_reference,"
            + "accumulation,tokens_per_step,step_s,compute_s,exposed_communication_s,optimizer_s,tokens_per_s,efficiency,"
            + "peak_pss_mib_largest,peak_pss_mib_sum,load_average_before,date,host"]
        for point in sortedPoints {
            lines.append([Self.series(of: point), point.mode ?? "", "\(point.ranks)", "\(point.nodes)", "\(point.threadsPerRank)",
                          "\(point.coresAvailable)", "\(point.oversubscribed)", point.zeroStage, "\(point.shareReference)",
                          "\(point.accumulation)", "\(point.tokensPerStep)",
                          String(format: "%.4f", point.stepSeconds), String(format: "%.4f", point.computeSeconds),
                          String(format: "%.4f", point.exposedCommunicationSeconds), String(format: "%.4f", point.optimizerSeconds),
                          String(format: "%.1f", point.tokensPerSecond), String(format: "%.3f", efficiency(point)),
                          String(format: "%.0f", point.peakPssMibLargest), String(format: "%.0f", point.peakPssMibSum),
                          String(format: "%.2f", point.loadAverage.first ?? 0), point.date, point.host].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    var sortedPoints: [ScalingPoint] {
        points.sorted { (Self.series(of: $0), $0.ranks) < (Self.series(of: $1), $1.ranks) }
    }

    /// The markdown table of docs/scaling.md.
    public var table: String {
        var lines = ["| series | ranks | accum. | tokens/s | step s | compute | exposed comm. | optimizer | efficiency | peak PSS/rank MiB | load |",
                     "|---|---|---|---|---|---|---|---|---|---|---|"]
        for point in sortedPoints {
            lines.append(String(format: "| %@ | %d%@ | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %.0f%% | %.0f | %.1f |",
                                Self.series(of: point), point.ranks, point.oversubscribed ? " (over)" : "", point.accumulation,
                                point.tokensPerSecond, point.stepSeconds, point.computeSeconds,
                                point.exposedCommunicationSeconds, point.optimizerSeconds, 100 * efficiency(point),
                                point.peakPssMibLargest, point.loadAverage.first ?? 0))
        }
        return lines.joined(separator: "\n")
    }

    private static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]

    /// One chart of `value` against ranks, a series per `series(of:)`.
    func chart(_ title: String, _ value: (ScalingPoint) -> Double) -> String {
        let names = Array(Set(points.map(Self.series))).sorted()
        let series = names.enumerated().map { index, name in
            LineChart.Series(label: name, points: sortedPoints.filter { Self.series(of: $0) == name }
                .map { (x: Double($0.ranks), y: value($0)) }, color: Self.colors[index % Self.colors.count],
                dashed: name.contains("hosts"))
        }
        return LineChart(title: title, xLabel: "ranks", series: series).svg
    }

    /// Bus bandwidth against log2 of the message size, one series per sweep file and path.
    var bandwidthChart: String {
        var series: [LineChart.Series] = []
        for (name, sweep) in sweeps {
            for path in AllReduceBenchmark.Path.allCases {
                let rows = sweep.rows.filter { $0.path == path }
                series.append(LineChart.Series(label: "\(name): \(path.rawValue), \(sweep.ranks) ranks on \(sweep.nodes) host(s)",
                                               points: rows.map { (x: log2(Double($0.bytes)), y: $0.busBandwidthGBps) },
                                               color: Self.colors[series.count % Self.colors.count], dashed: path == .hierarchical))
            }
        }
        return LineChart(title: "all-reduce bus bandwidth (GB/s)", xLabel: "log2 message size (bytes)", series: series).svg
    }

    /// The flat path's line fitted over sweeps of `nodes` hosts (sizes ≥ 64 KiB, where bandwidth dominates, and the
    /// smallest sizes for the latency).
    public func fittedLink(nodes: Int) -> CostModel.Link? {
        guard let sweep = sweeps.first(where: { $0.result.nodes == nodes })?.result else { return nil }
        let rows = sweep.rows.filter { $0.path == (nodes > 1 ? .hierarchical : .flat) }
        return CostModel.Link.fit(rows.map { ($0.bytes, $0.seconds) }, ranks: sweep.ranks)
    }

    /// The cost model from this report's measurements: nil without a one-host sweep and a one-rank stage-0 point.
    public var costModel: CostModel? {
        guard let intra = fittedLink(nodes: 1),
              let single = points.filter({ $0.ranks == 1 && $0.zeroStage == "0" }).min(by: { $0.stepSeconds < $1.stepSeconds })
        else { return nil }
        let inter = sweeps.first { $0.result.nodes > 1 }.flatMap { sweep in
            sweep.result.rows.filter { $0.path == .hierarchical }.min { $0.bytes < $1.bytes }?.seconds
        } ?? intra.latencySeconds
        let threads = Double(single.threadsPerRank)
        let p = Double(single.parameters)
        let stateBytes = 20 * p
        let tokensPerMicroBatch = Double(single.tokensPerStep / single.accumulation)
        return CostModel(intraNode: intra, interNodeLatencySeconds: inter,
                         flopsPerSecondPerCore: 8 * p * Double(single.tokensPerStep) / single.computeSeconds / threads,
                         optimizerSecondsPerParameterPerCore: single.optimizerSeconds * threads / p,
                         activationBytesPerTokenLayerWidth: max(0, single.peakPssMibLargest * 1_048_576 - stateBytes)
                             / (tokensPerMicroBatch * Double(single.layers * 768)))
    }

    /// The projection table: every shape at 8…1024 ranks and 10/25/100/200 Gb/s, replicated vs ZeRO-2 + shared reference.
    public func projection(_ model: CostModel) -> String {
        var lines = [String(format: "Fitted: intra-node α = %.1f µs, B = %.2f GB/s; inter-node α = %.1f µs (veth, not a NIC); "
                                + "compute %.2f GFLOP/s per core; optimizer %.2f ns per parameter per core; activations %.1f B "
                                + "per token·layer·width. Runs: 8 ranks per node, 8 cores per rank, 8192 tokens per rank and step, "
                                + "micro-batches of 1024 tokens.",
                            model.intraNode.latencySeconds * 1e6, model.intraNode.bytesPerSecond / 1e9,
                            model.interNodeLatencySeconds * 1e6, model.flopsPerSecondPerCore / 1e9,
                            model.optimizerSecondsPerParameterPerCore * 1e9, model.activationBytesPerTokenLayerWidth),
                     "",
                     "| model | ranks | Gb/s | step s (zero 0) | efficiency (zero 0) | memory/rank GiB (zero 0, own ref) | step s (zero 2) | efficiency (zero 2) | memory/rank GiB (zero 2, shared ref) |",
                     "|---|---|---|---|---|---|---|---|---|"]
        for shape in [CostModel.Shape.gpt2Small, .qwen2HalfB, .qwen2OneAndHalfB] {
            for ranks in [8, 64, 1024] {
                for gbps in [10.0, 25, 100, 200] {
                    var run = CostModel.Run(ranks: ranks, linkGbps: gbps)
                    let replicated = model.project(shape, run)
                    run.zero = .gradients
                    run.shareReference = true
                    let sharded = model.project(shape, run)
                    lines.append(String(format: "| %@ | %d | %.0f | %.2f | %.0f%% | %.2f | %.2f | %.0f%% | %.2f |", shape.name, ranks, gbps,
                                        replicated.stepSeconds, 100 * replicated.efficiency, replicated.memoryBytesPerRank / 1_073_741_824,
                                        sharded.stepSeconds, 100 * sharded.efficiency, sharded.memoryBytesPerRank / 1_073_741_824))
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Writes scaling.csv, scaling.json, the four charts, tables.md and (when the model can be fitted) projection.md.
    public func write(to folder: String) throws {
        let url = URL(fileURLWithPath: folder)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let files: [(String, String)] = [
            ("scaling.csv", csv),
            ("scaling.json", String(decoding: try encoder.encode(sortedPoints), as: UTF8.self)),
            ("scaling-throughput.svg", chart("tokens/s") { $0.tokensPerSecond }),
            ("scaling-efficiency.svg", chart("efficiency vs the cores used (%)") { 100 * efficiency($0) }),
            ("scaling-memory.svg", chart("peak PSS per rank (MiB)") { $0.peakPssMibLargest }),
            ("allreduce-busbw.svg", bandwidthChart),
            ("tables.md", table + "\n"),
        ] + (costModel.map { [("projection.md", projection($0) + "\n")] } ?? [])
        for (name, text) in files {
            try Data(text.utf8).write(to: url.appendingPathComponent(name))
        }
    }
}

/// A file the report cannot use, named.
public struct ScalingReportError: Error, CustomStringConvertible {
    public var description: String
}
