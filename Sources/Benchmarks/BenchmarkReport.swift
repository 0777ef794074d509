import Foundation
import Kernels

/// How the per-core peak that fractions of peak refer to was obtained.
public struct PeakEstimate: Codable, Sendable {
    /// GFLOP/s of one core.
    public let gflopsPerCore: Double
    /// "measured": an in-register FMA loop (`measurePeakGFLOPS`); "given": --peak-gflops.
    public let source: String
    /// FLOP per cycle per core of the vector width the kernels are built for (2 FMA ports × lanes × 2).
    public let flopsPerCycle: Int
    /// gflopsPerCore / flopsPerCycle: the clock the peak corresponds to.
    public var impliedGHz: Double { gflopsPerCore / Double(flopsPerCycle) }

    public init(gflopsPerCore: Double, source: String, flopsPerCycle: Int) {
        self.gflopsPerCore = gflopsPerCore
        self.source = source
        self.flopsPerCycle = flopsPerCycle
    }
}

/// Everything one `dpo-dist bench` run measured.
public struct BenchmarkReport: Codable, Sendable {
    public var peak: PeakEstimate
    /// The GEMM path every product ran on (`GEMMKernel.selected`: "avx2" or "avx512", DPO_DIST_GEMM forces one).
    public var gemmKernel: String = GEMMKernel.selected.rawValue
    /// Rows and columns of that path's register tile.
    public var gemmMicroTile: [Int] = [GEMMKernel.selected.microTile.rows, GEMMKernel.selected.microTile.columns]
    public var gemm: [GEMMResult] = []
    public var steps: [StepResult] = []
    public var peakResidentMegabytes: Double = 0

    public init(peak: PeakEstimate) {
        self.peak = peak
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    /// Fixed-width tables for a terminal or a Markdown code block.
    public func table() -> String {
        var lines = [String(format: "peak: %.1f GFLOP/s per core (%@, %d FLOP/cycle → %.2f GHz)",
                            peak.gflopsPerCore, peak.source, peak.flopsPerCycle, peak.impliedGHz),
                     "GEMM path: \(gemmKernel) (\(gemmMicroTile.map(String.init).joined(separator: " × ")) micro-tile; "
                         + "available here: \(GEMMKernel.available.map(\.rawValue).joined(separator: ", ")))"]
        if !gemm.isEmpty {
            let widths = [12, 15, 8, 7, 9, 8, 8, 7]
            lines += ["", row(["layer", "rows×in→out", "product", "threads", "ms", "GFLOP/s", "CPU-GF/s", "of peak"], widths)]
            for result in gemm {
                let shape = "\(result.layer.rows)×\(result.layer.inDim)→\(result.layer.outDim)"
                lines.append(row([result.layer.name, shape, result.product.rawValue, "\(result.threads)",
                                  String(format: "%.2f", result.medianSeconds * 1e3), String(format: "%.1f", result.gflops),
                                  String(format: "%.1f", result.cpuGFLOPS), String(format: "%.0f%%", 100 * result.fractionOfPeak)],
                                 widths))
            }
        }
        if !steps.isEmpty {
            let widths = [12, 34, 7, 7, 9, 9, 9]
            lines += ["", row(["shape", "trains", "threads", "tokens", "step s", "CPU s", "tokens/s"], widths)]
            for result in steps {
                lines.append(row([result.shape, result.variant.label, "\(result.threads)", "\(result.tokensPerStep)",
                                  String(format: "%.3f", result.medianStepSeconds), String(format: "%.3f", result.medianCPUSeconds),
                                  String(format: "%.0f", result.tokensPerSecond)], widths))
            }
        }
        lines += ["", String(format: "peak RSS: %.0f MB", peakResidentMegabytes)]
        return lines.joined(separator: "\n")
    }

    /// Cells left-aligned in columns of the given widths.
    private func row(_ cells: [String], _ widths: [Int]) -> String {
        zip(cells, widths).map { cell, width in
            cell.count >= width ? cell : cell + String(repeating: " ", count: width - cell.count)
        }.joined(separator: " ").trimmingCharacters(in: .whitespaces)
    }
}
