import Foundation

/// Element types of the safetensors format that this package reads (all whole-byte types).
/// Sub-byte and 8-bit float types are reported as unsupported when met in a file.
public enum SafeTensorsDType: String, CaseIterable, Sendable {
    case BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .BOOL, .U8, .I8: return 1
        case .I16, .U16, .F16, .BF16: return 2
        case .I32, .U32, .F32: return 4
        case .F64, .I64, .U64: return 8
        }
    }
}

/// One tensor of a safetensors file: its header entry plus a view of its bytes in the memory-mapped file.
public struct SafeTensor: Sendable {
    public let name: String
    public let dtype: SafeTensorsDType
    public let shape: [Int]
    /// Product of `shape` (1 for a scalar).
    public let elementCount: Int

    private let file: MappedFile
    /// Absolute byte range of the tensor's data in `file`.
    private let byteRange: Range<Int>

    init(entry: TensorEntry, file: MappedFile, dataStart: Int) {
        name = entry.name
        dtype = entry.dtype
        shape = entry.shape
        elementCount = entry.elementCount
        self.file = file
        byteRange = (dataStart + entry.begin)..<(dataStart + entry.end)
    }

    /// The values converted to Float (exactly for F16/BF16; F64 rounds to nearest).
    /// Integer and boolean tensors throw `SafeTensorsError.notFloatingPoint`.
    public func floats() throws -> [Float] {
        try [Float](unsafeUninitializedCapacity: elementCount) { buffer, initializedCount in
            try copyFloats(into: buffer)
            initializedCount = elementCount
        }
    }

    /// Converts the values straight into `destination` (e.g. a slice of a model's flat parameter buffer),
    /// without an intermediate array. `destination.count` must equal `elementCount`.
    public func copyFloats(into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard destination.count == elementCount else {
            throw SafeTensorsError.elementCountMismatch(file: file.path, tensor: name, shape: shape,
                                                        expected: elementCount, actual: destination.count)
        }
        try copyFloats(0 ..< elementCount, into: destination)
    }

    /// The same for the flat elements `elements` only (a rank's shard of a flat tensor); `destination.count` must
    /// equal their count.
    public func copyFloats(_ elements: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard elements.lowerBound >= 0, elements.upperBound <= elementCount, destination.count == elements.count else {
            throw SafeTensorsError.elementCountMismatch(file: file.path, tensor: name, shape: shape,
                                                        expected: elements.count, actual: destination.count)
        }
        guard let output = destination.baseAddress, !elements.isEmpty else { return }
        let elementSize = dtype.byteSize
        let start = byteRange.lowerBound + elements.lowerBound * elementSize
        let source = UnsafeRawBufferPointer(rebasing: file.bytes[start ..< start + elements.count * elementSize])

        /// Reads element `index` as a little-endian `Bits` and converts it.
        func convert<Bits: FixedWidthInteger>(_ bits: Bits.Type, _ toFloat: (Bits) -> Float) {
            for index in 0..<elements.count {
                let raw = source.loadUnaligned(fromByteOffset: index * MemoryLayout<Bits>.size, as: Bits.self)
                output[index] = toFloat(Bits(littleEndian: raw))
            }
        }

        switch dtype {
        case .F32 where hostIsLittleEndian:
            UnsafeMutableRawPointer(output).copyMemory(from: source.baseAddress!, byteCount: source.count)
        case .F32:
            convert(UInt32.self) { Float(bitPattern: $0) }
        case .F16:
            convert(UInt16.self, floatFromHalfBits)
        case .BF16:
            convert(UInt16.self, floatFromBFloat16Bits)
        case .F64:
            convert(UInt64.self) { Float(Double(bitPattern: $0)) }
        case .BOOL, .U8, .I8, .I16, .U16, .I32, .U32, .I64, .U64:
            throw SafeTensorsError.notFloatingPoint(file: file.path, tensor: name, dtype: dtype)
        }
    }
}

/// A safetensors file: an 8-byte little-endian header length N, N bytes of JSON header, then the data buffer.
///
/// Reading memory-maps the file and validates the whole header up front, so a file that reads without error
/// can be converted tensor by tensor without further bounds failures.
public struct SafeTensorsFile: Sendable {
    /// Header size limit, as in the reference implementation (guards against absurd lengths in corrupt files).
    public static let maximumHeaderLength = 100_000_000

    public let url: URL
    /// The header's `__metadata__` map (empty if absent).
    public let metadata: [String: String]
    /// Tensor names in the order their data is stored.
    public let names: [String]
    private let tensorsByName: [String: SafeTensor]

    public subscript(name: String) -> SafeTensor? { tensorsByName[name] }

    /// The tensor called `name`, or `SafeTensorsError.missingTensor` naming the file.
    public func tensor(named name: String) throws -> SafeTensor {
        guard let tensor = tensorsByName[name] else {
            throw SafeTensorsError.missingTensor(file: url.path, tensor: name)
        }
        return tensor
    }

    /// Maps the file and parses and bounds-checks its header.
    public static func read(contentsOf url: URL) throws -> SafeTensorsFile {
        let mapped = try MappedFile(path: url.path)
        let path = mapped.path
        let bytes = mapped.bytes
        let prefixSize = MemoryLayout<UInt64>.size
        guard bytes.count >= prefixSize else {
            throw SafeTensorsError.fileTooSmall(file: path, size: bytes.count)
        }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(min(bytes.count - prefixSize, maximumHeaderLength)) else {
            throw SafeTensorsError.headerLengthOutOfRange(file: path, headerLength: headerLength, fileSize: bytes.count)
        }
        let dataStart = prefixSize + Int(headerLength)
        let header = try SafeTensorsHeader(json: UnsafeRawBufferPointer(rebasing: bytes[prefixSize..<dataStart]),
                                           bufferSize: bytes.count - dataStart, file: path)
        let tensors = header.entries.map { SafeTensor(entry: $0, file: mapped, dataStart: dataStart) }
        return SafeTensorsFile(url: url, metadata: header.metadata, names: tensors.map(\.name),
                               tensorsByName: Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) }))
    }
}
