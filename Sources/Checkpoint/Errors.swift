import Diagnostics
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A problem with the contents of a safetensors file (reading) or with the tensors handed to the writer.
/// Every case names the file and, where one is involved, the tensor.
public enum SafeTensorsError: Error, IdenticalOnEveryRank, Equatable, CustomStringConvertible {
    /// The file is shorter than the 8-byte header-length prefix.
    case fileTooSmall(file: String, size: Int)
    /// The header length prefix is larger than the rest of the file or than `SafeTensorsFile.maximumHeaderLength`.
    case headerLengthOutOfRange(file: String, headerLength: UInt64, fileSize: Int)
    /// The header is not UTF-8 JSON (the reason gives the parser's line and column), not an object, or `__metadata__`
    /// is not a string-to-string map.
    case invalidHeader(file: String, reason: String)
    /// A tensor entry lacks a field, or a field has the wrong type or an impossible value.
    case invalidTensorEntry(file: String, tensor: String, reason: String)
    /// The dtype string is not one this reader knows (e.g. sub-byte or 8-bit float types).
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// `end - begin` differs from element count × dtype size.
    case sizeMismatch(file: String, tensor: String, shape: [Int], dtype: String, expectedBytes: Int, actualBytes: Int)
    /// The tensor's bytes lie (partly) beyond the end of the data buffer — typically a truncated file.
    case tensorOutOfBounds(file: String, tensor: String, begin: Int, end: Int, bufferSize: Int)
    /// `begin > end`, or the tensor overlaps / leaves a gap after the tensor stored before it
    /// (the format requires the tensors to tile the data buffer exactly).
    case invalidOffsets(file: String, tensor: String, begin: Int, end: Int, reason: String)
    /// Bytes after the last tensor that no tensor claims.
    case trailingBytes(file: String, dataEnd: Int, bufferSize: Int)
    /// `floats()` on an integer or boolean tensor.
    case notFloatingPoint(file: String, tensor: String, dtype: SafeTensorsDType)
    /// A destination buffer (reading) or value buffer (writing) whose size does not match the tensor's shape.
    case elementCountMismatch(file: String, tensor: String, shape: [Int], expected: Int, actual: Int)
    /// `SafeTensorsFile.tensor(named:)` for a name the file does not hold.
    case missingTensor(file: String, tensor: String)
    /// Writer input: a name used twice, an empty name, or the reserved name `__metadata__`.
    case invalidTensorName(file: String, tensor: String, reason: String)

    public var description: String {
        switch self {
        case let .fileTooSmall(file, size):
            return "\(file): \(size) bytes is too small for a safetensors file (needs at least the 8-byte header length)"
        case let .headerLengthOutOfRange(file, headerLength, fileSize):
            return "\(file): header length \(headerLength) does not fit in the file of \(fileSize) bytes"
                + " (truncated, or not a safetensors file?)"
        case let .invalidHeader(file, reason):
            return "\(file): invalid safetensors header: \(reason)"
        case let .invalidTensorEntry(file, tensor, reason):
            return "\(file): tensor '\(tensor)': \(reason)"
        case let .unsupportedDType(file, tensor, dtype):
            return "\(file): tensor '\(tensor)' has unsupported dtype '\(dtype)'"
        case let .sizeMismatch(file, tensor, shape, dtype, expectedBytes, actualBytes):
            return "\(file): tensor '\(tensor)' of shape \(shape) and dtype \(dtype) needs \(expectedBytes) bytes"
                + " but its data_offsets span \(actualBytes)"
        case let .tensorOutOfBounds(file, tensor, begin, end, bufferSize):
            return "\(file): tensor '\(tensor)' data_offsets [\(begin), \(end)] exceed the data buffer of \(bufferSize) bytes"
                + " (truncated file?)"
        case let .invalidOffsets(file, tensor, begin, end, reason):
            return "\(file): tensor '\(tensor)' data_offsets [\(begin), \(end)]: \(reason)"
        case let .trailingBytes(file, dataEnd, bufferSize):
            return "\(file): tensors end at byte \(dataEnd) of the data buffer but it holds \(bufferSize) bytes"
        case let .notFloatingPoint(file, tensor, dtype):
            return "\(file): tensor '\(tensor)' has dtype \(dtype.rawValue), which is not a floating-point type"
        case let .elementCountMismatch(file, tensor, shape, expected, actual):
            return "\(file): tensor '\(tensor)' of shape \(shape) has \(expected) elements but the buffer holds \(actual)"
        case let .missingTensor(file, tensor):
            return "\(file): no tensor named '\(tensor)'"
        case let .invalidTensorName(file, tensor, reason):
            return "\(file): tensor '\(tensor)': \(reason)"
        }
    }
}

/// A failed file-system operation or an invalid argument to `CheckpointDirectory`.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    /// A system call failed; `code` is the `errno` value.
    case io(operation: String, path: String, code: Int32)
    /// Checkpoint steps are non-negative.
    case invalidStep(Int)
    /// `prune(keepLast:)` must keep at least one checkpoint.
    case invalidKeepLast(Int)

    public var description: String {
        switch self {
        case let .io(operation, path, code):
            return "\(operation) failed for \(path): \(String(cString: strerror(code))) (errno \(code))"
        case let .invalidStep(step):
            return "checkpoint step must be non-negative, got \(step)"
        case let .invalidKeepLast(count):
            return "prune(keepLast:) must keep at least 1 checkpoint, got \(count)"
        }
    }

    /// The error for the system call that just failed (reads `errno`).
    static func lastSystemError(_ operation: String, path: String) -> CheckpointError {
        .io(operation: operation, path: path, code: errno)
    }
}
