import Kernels
import Model
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct GradientReleaseTests {
    /// A released range reads as zeros, the rest keeps its values, and backward can accumulate there again. On Linux
    /// the whole pages inside the range are no longer resident (mincore), which is what makes ZeRO-2's memory fall.
    @Test func releasedGradientsAreZeroAndTheirPagesGoBackToTheSystem() throws {
        let config = ModelConfig.gpt2(vocabSize: 300, maxPositions: 32, layers: 2, heads: 2, channels: 32)
        let model = try makeCausalLanguageModel(config: config, trainable: true, parallel: .serial)
        let gradients = model.gradients
        for index in gradients.indices { gradients[index] = Float(index % 13 + 1) }
        let released = 1_000 ..< model.parameterCount - 777
        model.trainableParameters.releaseGradients(released)
        #if os(Linux)
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let base = UInt(bitPattern: gradients.baseAddress!)
        let firstPage = (base + UInt(released.lowerBound * 4) + UInt(pageSize) - 1) / UInt(pageSize) * UInt(pageSize)
        let endPage = (base + UInt(released.upperBound * 4)) / UInt(pageSize) * UInt(pageSize)
        let pages = Int(endPage - firstPage) / pageSize
        #expect(pages >= 10)
        var residency = [UInt8](repeating: 1, count: pages)
        #expect(mincore(UnsafeMutableRawPointer(bitPattern: firstPage), pages * pageSize, &residency) == 0)
        #expect(residency.allSatisfy { $0 & 1 == 0 }, "released pages still resident")
        #endif
        // (Checked after mincore: reading a released page maps the system's shared zero page, which counts as resident.)
        #expect(gradients[released].allSatisfy { $0 == 0 })
        #expect(gradients.indices.filter { !released.contains($0) }.allSatisfy { gradients[$0] == Float($0 % 13 + 1) })
        gradients[released.lowerBound + 5] += 2
        #expect(gradients[released.lowerBound + 5] == 2)
    }
}
