#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Zeroed float buffers in their own anonymous memory mapping, page-aligned, whose pages can be handed back to the
/// operating system: the gradient buffer, of which a ZeRO-2 rank keeps only its own shard between the reductions.
enum PageMappedFloats {
    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// `count` zeros; the pages take memory only once written.
    static func allocate(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        let address = mmap(nil, byteCount(count), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let address, address != MAP_FAILED else {
            preconditionFailure("cannot map \(byteCount(count)) bytes for \(count) floats (errno \(errno))")
        }
        return UnsafeMutableBufferPointer(start: address.assumingMemoryBound(to: Float.self), count: count)
    }

    static func deallocate(_ buffer: UnsafeMutableBufferPointer<Float>) {
        buffer.baseAddress.map { _ = munmap($0, byteCount(buffer.count)) }
    }

    /// Zeroes `range` of `buffer` and, on Linux, returns the whole pages inside it to the system (MADV_DONTNEED: they
    /// read as zeros and take memory again only when written). Elsewhere the range is only zeroed. Whole pages inside
    /// a buffer hold nothing else, so any buffer of one's own may be released; one from `allocate` starts on a page.
    static func release(_ range: Range<Int>, of buffer: UnsafeMutableBufferPointer<Float>) {
        guard let base = buffer.baseAddress, !range.isEmpty else { return }
        let floatsPerPage = pageSize / MemoryLayout<Float>.stride
        let firstWholePage = (range.lowerBound + floatsPerPage - 1) / floatsPerPage * floatsPerPage
        let endOfWholePages = range.upperBound / floatsPerPage * floatsPerPage
        #if os(Linux)
        if firstWholePage < endOfWholePages,
           madvise(base + firstWholePage, (endOfWholePages - firstWholePage) * MemoryLayout<Float>.stride, MADV_DONTNEED) == 0 {
            (base + range.lowerBound).update(repeating: 0, count: firstWholePage - range.lowerBound)
            (base + endOfWholePages).update(repeating: 0, count: range.upperBound - endOfWholePages)
            return
        }
        #endif
        (base + range.lowerBound).update(repeating: 0, count: range.count)
    }

    private static func byteCount(_ count: Int) -> Int { max(count, 1) * MemoryLayout<Float>.stride }
}
