/// The single-core floating-point peak, measured rather than looked up: clock speed under load (turbo, AVX
/// down-clocking, a hypervisor's share) is not visible to a program, but a loop of independent fused multiply-adds in
/// registers runs at the core's FMA throughput = GHz × FMA units × lanes × 2, which is the peak the GEMM kernels can reach
/// with the vector width they are compiled for (32 FLOP/cycle with AVX2 on two FMA ports). The loop is timed in thread
/// CPU time, so other processes sharing the core do not lower the figure.

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Twelve independent accumulator chains: more than FMA latency (4-5 cycles) × ports (2) vectors in flight.
private let chains = 12

/// FLOP/s of `iterations` rounds of `chains` vector FMAs on one thread, in GFLOP/s. Like the GEMM files this one is
/// compiled in Kernels and again in GEMMAVX512; `GEMMKernel.measurePeakGFLOPS` runs the one of the selected path.
func measureVectorPeakGFLOPS(iterations: Int) -> Double {
    // Operands that differ between chains and lanes and are known only at run time: with equal chains or splat
    // operands the optimizer merges the work (it computed one narrow chain instead of twelve wide ones).
    let scale = 1 / Float(iterations + 1)
    var accumulators = (0 ..< chains).map { chain in
        var start = GEMMVector()
        for lane in 0 ..< GEMMVector.scalarCount { start[lane] = 1 + Float(chain * GEMMVector.scalarCount + lane) * scale }
        return start
    }
    var factor = GEMMVector(), addend = GEMMVector()
    for lane in 0 ..< GEMMVector.scalarCount {
        factor[lane] = 1 - Float(lane + 1) * scale
        addend[lane] = Float(lane + 1) * scale
    }
    let start = threadCPUSeconds()
    accumulators.withUnsafeMutableBufferPointer { chain in
        var (c0, c1, c2, c3, c4, c5) = (chain[0], chain[1], chain[2], chain[3], chain[4], chain[5])
        var (c6, c7, c8, c9, c10, c11) = (chain[6], chain[7], chain[8], chain[9], chain[10], chain[11])
        for _ in 0 ..< iterations {
            c0 = addend.addingProduct(c0, factor); c1 = addend.addingProduct(c1, factor)
            c2 = addend.addingProduct(c2, factor); c3 = addend.addingProduct(c3, factor)
            c4 = addend.addingProduct(c4, factor); c5 = addend.addingProduct(c5, factor)
            c6 = addend.addingProduct(c6, factor); c7 = addend.addingProduct(c7, factor)
            c8 = addend.addingProduct(c8, factor); c9 = addend.addingProduct(c9, factor)
            c10 = addend.addingProduct(c10, factor); c11 = addend.addingProduct(c11, factor)
        }
        (chain[0], chain[1], chain[2], chain[3], chain[4], chain[5]) = (c0, c1, c2, c3, c4, c5)
        (chain[6], chain[7], chain[8], chain[9], chain[10], chain[11]) = (c6, c7, c8, c9, c10, c11)
    }
    let seconds = threadCPUSeconds() - start
    // Keep the result observable so the loop is not removed.
    precondition(accumulators.reduce(0) { $0 + $1.sum() }.isFinite, "FMA probe overflowed")
    let flops = 2.0 * Double(GEMMVector.scalarCount) * Double(chains) * Double(iterations)
    return flops / seconds / 1e9
}

/// FLOP per cycle of one core at the kernels' vector width, assuming two FMA ports (every x86-64-v3 core since Haswell):
/// 2 ports × lanes × 2 FLOP per fused multiply-add.
let vectorFMAFLOPsPerCycle = 2 * GEMMVector.scalarCount * 2

private func threadCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}
