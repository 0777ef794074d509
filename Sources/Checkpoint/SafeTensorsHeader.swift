import Foundation
import JSON

/// A tensor entry from the header, checked on its own (dtype known, shape and offsets consistent)
/// but not yet against the other entries.
struct TensorEntry {
    let name: String
    let dtype: SafeTensorsDType
    let shape: [Int]
    let elementCount: Int
    let begin: Int
    let end: Int
}

/// The decoded JSON header: metadata plus tensor entries in data-offset order.
struct SafeTensorsHeader {
    static let metadataKey = "__metadata__"

    var metadata: [String: String]
    var entries: [TensorEntry]

    /// Decodes and validates the header against a data buffer of `bufferSize` bytes.
    /// The tensors must tile the buffer exactly — no overlaps, gaps or trailing bytes — as the reference implementation requires.
    init(json: UnsafeRawBufferPointer, bufferSize: Int, file: String) throws {
        let document: JSONValue
        do {
            document = try JSONValue.parse(json, file: file)
        } catch let error as JSONError {
            throw SafeTensorsError.invalidHeader(file: file, reason: "\(error.problem)")
        }
        let raw = try RawHeader(document, file: file)
        metadata = raw.metadata
        entries = try raw.tensors
            .map { try Self.check($0, bufferSize: bufferSize, file: file) }
            .sorted { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }

        var expectedBegin = 0
        var previous: String?
        for entry in entries {
            if entry.begin != expectedBegin {
                let reason = entry.begin < expectedBegin
                    ? "overlaps tensor '\(previous ?? "")', which ends at \(expectedBegin)"
                    : "leaves a gap after byte \(expectedBegin)\(previous.map { " (end of tensor '\($0)')" } ?? "")"
                throw SafeTensorsError.invalidOffsets(file: file, tensor: entry.name, begin: entry.begin, end: entry.end,
                                                      reason: reason)
            }
            expectedBegin = entry.end
            previous = entry.name
        }
        if expectedBegin != bufferSize {
            throw SafeTensorsError.trailingBytes(file: file, dataEnd: expectedBegin, bufferSize: bufferSize)
        }
    }

    /// Checks one entry on its own: known dtype, element count × dtype size == byte span, span inside the buffer.
    private static func check(_ raw: RawTensorEntry, bufferSize: Int, file: String) throws -> TensorEntry {
        guard let dtype = SafeTensorsDType(rawValue: raw.dtype) else {
            throw SafeTensorsError.unsupportedDType(file: file, tensor: raw.name, dtype: raw.dtype)
        }
        var elementCount = 1
        for dimension in raw.shape {
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw SafeTensorsError.invalidTensorEntry(file: file, tensor: raw.name, reason: "shape \(raw.shape) is too large")
            }
            elementCount = product
        }
        let (expectedBytes, overflow) = elementCount.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else {
            throw SafeTensorsError.invalidTensorEntry(file: file, tensor: raw.name, reason: "shape \(raw.shape) is too large")
        }
        guard raw.begin <= raw.end else {
            throw SafeTensorsError.invalidOffsets(file: file, tensor: raw.name, begin: raw.begin, end: raw.end,
                                                  reason: "begin is after end")
        }
        guard raw.end - raw.begin == expectedBytes else {
            throw SafeTensorsError.sizeMismatch(file: file, tensor: raw.name, shape: raw.shape, dtype: raw.dtype,
                                                expectedBytes: expectedBytes, actualBytes: raw.end - raw.begin)
        }
        guard raw.end <= bufferSize else {
            throw SafeTensorsError.tensorOutOfBounds(file: file, tensor: raw.name, begin: raw.begin, end: raw.end,
                                                     bufferSize: bufferSize)
        }
        return TensorEntry(name: raw.name, dtype: dtype, shape: raw.shape, elementCount: elementCount,
                           begin: raw.begin, end: raw.end)
    }
}

/// A header entry as written in the JSON, before any checks.
struct RawTensorEntry {
    let name: String
    let dtype: String
    let shape: [Int]
    let begin: Int
    let end: Int
}

/// The header JSON object, `{"__metadata__": {string: string}, name: {"dtype", "shape", "data_offsets"}, ...}`,
/// read with every field's kind checked.
private struct RawHeader {
    var metadata: [String: String] = [:]
    var tensors: [RawTensorEntry] = []

    init(_ document: JSONValue, file: String) throws {
        guard case .object(let object) = document else {
            throw SafeTensorsError.invalidHeader(file: file, reason: "the header is not a JSON object")
        }
        var seenNames = Set<String>()
        for (key, value) in object.members {
            if key == SafeTensorsHeader.metadataKey {
                guard case .object(let entries) = value else { throw Self.badMetadata(file) }
                for (name, text) in entries.members {
                    guard case .string(let text) = text else { throw Self.badMetadata(file) }
                    metadata[name] = text
                }
            } else {
                guard seenNames.insert(key).inserted else {
                    throw SafeTensorsError.invalidTensorEntry(file: file, tensor: key, reason: "the name appears twice in the header")
                }
                tensors.append(try Self.tensorEntry(named: key, value, file: file))
            }
        }
    }

    private static func badMetadata(_ file: String) -> SafeTensorsError {
        .invalidHeader(file: file, reason: "'\(SafeTensorsHeader.metadataKey)' must map strings to strings")
    }

    private static func tensorEntry(named name: String, _ value: JSONValue, file: String) throws -> RawTensorEntry {
        func problem(_ reason: String) -> SafeTensorsError {
            .invalidTensorEntry(file: file, tensor: name, reason: reason)
        }
        guard case .object(let fields) = value else { throw problem("the entry must be a JSON object") }
        /// One field, reporting a missing one by name.
        func field(_ key: String) throws -> JSONValue {
            guard let value = fields[key] else { throw problem("missing '\(key)'") }
            return value
        }
        /// A list of whole numbers, or the error saying what `key` must be.
        func integers(_ key: String, expected: String) throws -> [Int] {
            let list = JSONField(try field(key), file: file)
            do {
                return try list.array().map { try $0.int() }
            } catch is JSONError {
                throw problem("'\(key)' must be \(expected)")
            }
        }
        guard case .string(let dtype) = try field("dtype") else { throw problem("'dtype' must be a string") }
        let shape = try integers("shape", expected: "an array of integers")
        let offsets = try integers("data_offsets", expected: "an array of two integers")
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw problem("'shape' \(shape) has a negative dimension")
        }
        guard offsets.count == 2, offsets.allSatisfy({ $0 >= 0 }) else {
            throw problem("'data_offsets' \(offsets) must be two non-negative integers")
        }
        return RawTensorEntry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
    }
}
