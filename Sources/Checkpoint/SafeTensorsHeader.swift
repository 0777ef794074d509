import Foundation

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
        let jsonData = Data(json)
        // Checked up front: the JSON decoder only notices bad UTF-8 inside strings it is asked to decode.
        guard String(data: jsonData, encoding: .utf8) != nil else {
            throw SafeTensorsError.invalidHeader(file: file, reason: "the header is not valid UTF-8 JSON")
        }
        let raw: RawHeader
        do {
            raw = try JSONDecoder().decode(RawHeader.self, from: jsonData)
        } catch let problem as HeaderProblem {
            throw problem.error(file: file)
        } catch DecodingError.typeMismatch {
            throw SafeTensorsError.invalidHeader(file: file, reason: "the header is not a JSON object")
        } catch {
            throw SafeTensorsError.invalidHeader(file: file, reason: "the header is not valid UTF-8 JSON")
        }
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

/// What is wrong with the header's JSON structure; turned into a `SafeTensorsError` once the file name is attached.
private struct HeaderProblem: Error {
    let tensor: String?
    let reason: String

    func error(file: String) -> SafeTensorsError {
        if let tensor {
            return .invalidTensorEntry(file: file, tensor: tensor, reason: reason)
        }
        return .invalidHeader(file: file, reason: reason)
    }
}

/// Any JSON object key: the header's keys are tensor names.
private struct HeaderKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// The header JSON object: `{"__metadata__": {string: string}, name: {"dtype", "shape", "data_offsets"}, ...}`.
private struct RawHeader: Decodable {
    var metadata: [String: String] = [:]
    var tensors: [RawTensorEntry] = []

    init(from decoder: Decoder) throws {
        let object = try decoder.container(keyedBy: HeaderKey.self)
        var seenNames = Set<String>()
        for key in object.allKeys {
            if key.stringValue == SafeTensorsHeader.metadataKey {
                do {
                    metadata = try object.decode([String: String].self, forKey: key)
                } catch {
                    throw HeaderProblem(tensor: nil, reason: "'\(SafeTensorsHeader.metadataKey)' must map strings to strings")
                }
            } else {
                guard seenNames.insert(key.stringValue).inserted else {
                    throw HeaderProblem(tensor: key.stringValue, reason: "the name appears twice in the header")
                }
                tensors.append(try Self.tensorEntry(named: key.stringValue, in: object))
            }
        }
    }

    private static func tensorEntry(named name: String, in object: KeyedDecodingContainer<HeaderKey>) throws -> RawTensorEntry {
        let fields: KeyedDecodingContainer<HeaderKey>
        do {
            fields = try object.nestedContainer(keyedBy: HeaderKey.self, forKey: HeaderKey(stringValue: name))
        } catch {
            throw HeaderProblem(tensor: name, reason: "the entry must be a JSON object")
        }
        /// Decodes one field, reporting a missing or mistyped field by name.
        func field<Value: Decodable>(_ key: String, _ type: Value.Type, expected: String) throws -> Value {
            do {
                return try fields.decode(type, forKey: HeaderKey(stringValue: key))
            } catch DecodingError.keyNotFound {
                throw HeaderProblem(tensor: name, reason: "missing '\(key)'")
            } catch {
                throw HeaderProblem(tensor: name, reason: "'\(key)' must be \(expected)")
            }
        }
        let dtype = try field("dtype", String.self, expected: "a string")
        let shape = try field("shape", [Int].self, expected: "an array of integers")
        let offsets = try field("data_offsets", [Int].self, expected: "an array of two integers")
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw HeaderProblem(tensor: name, reason: "'shape' \(shape) has a negative dimension")
        }
        guard offsets.count == 2, offsets.allSatisfy({ $0 >= 0 }) else {
            throw HeaderProblem(tensor: name, reason: "'data_offsets' \(offsets) must be two non-negative integers")
        }
        return RawTensorEntry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
    }
}
