// A reader of TensorBoard event files for the tests, written apart from the writer: it checks the TFRecord framing and
// both masked CRC-32Cs of every record and decodes the Event fields the writer uses.

import Foundation
import TensorBoardEvents

/// One decoded `tensorboard.Event`.
public struct TensorBoardEvent: Equatable {
    public var wallTime: Double?
    public var step: Int64?
    public var fileVersion: String?
    /// The summary's (tag, simple_value) pairs, in order.
    public var scalars: [(tag: String, value: Float)] = []
    /// `SessionLog.status` (1 = START), when the event is a session log.
    public var sessionStatus: Int64?

    public static func == (a: TensorBoardEvent, b: TensorBoardEvent) -> Bool {
        a.wallTime == b.wallTime && a.step == b.step && a.fileVersion == b.fileVersion && a.sessionStatus == b.sessionStatus
            && a.scalars.map(\.tag) == b.scalars.map(\.tag) && a.scalars.map(\.value) == b.scalars.map(\.value)
    }
}

/// A frame or field that does not decode, with its byte offset.
public struct TensorBoardFileError: Error, CustomStringConvertible {
    public var description: String
}

/// Every event of the file at `url`, in order.
public func readTensorBoardEvents(_ url: URL) throws -> [TensorBoardEvent] {
    let bytes = [UInt8](try Data(contentsOf: url))
    var events: [TensorBoardEvent] = []
    var offset = 0
    func littleEndian(_ start: Int, _ count: Int) -> UInt64 {
        (0..<count).reduce(UInt64(0)) { $0 | UInt64(bytes[start + $1]) << (8 * UInt64($1)) }
    }
    while offset < bytes.count {
        guard offset + 12 <= bytes.count else { throw TensorBoardFileError(description: "truncated header at \(offset)") }
        let length = Int(littleEndian(offset, 8))
        guard UInt32(littleEndian(offset + 8, 4)) == CRC32C.masked(bytes[offset..<offset + 8]) else {
            throw TensorBoardFileError(description: "length CRC mismatch at \(offset)")
        }
        let start = offset + 12
        guard start + length + 4 <= bytes.count else { throw TensorBoardFileError(description: "truncated record at \(offset)") }
        let data = Array(bytes[start..<start + length])
        guard UInt32(littleEndian(start + length, 4)) == CRC32C.masked(data) else {
            throw TensorBoardFileError(description: "data CRC mismatch at \(offset)")
        }
        events.append(try decodeEvent(data))
        offset = start + length + 4
    }
    return events
}

/// The fields of a protobuf message: (field number, wire type, varint / fixed value, length-delimited bytes).
private func fields(_ bytes: [UInt8]) throws -> [(field: Int, wire: Int, number: UInt64, content: [UInt8])] {
    var result: [(Int, Int, UInt64, [UInt8])] = []
    var index = 0
    func varint() throws -> UInt64 {
        var value: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard index < bytes.count, shift < 64 else { throw TensorBoardFileError(description: "bad varint at \(index)") }
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }
    func fixed(_ count: Int) throws -> UInt64 {
        guard index + count <= bytes.count else { throw TensorBoardFileError(description: "truncated field at \(index)") }
        defer { index += count }
        return (0..<count).reduce(UInt64(0)) { $0 | UInt64(bytes[index + $1]) << (8 * UInt64($1)) }
    }
    while index < bytes.count {
        let key = try varint()
        let field = Int(key >> 3), wire = Int(key & 7)
        switch wire {
        case 0: result.append((field, wire, try varint(), []))
        case 1: result.append((field, wire, try fixed(8), []))
        case 5: result.append((field, wire, try fixed(4), []))
        case 2:
            let length = Int(try varint())
            guard index + length <= bytes.count else { throw TensorBoardFileError(description: "truncated bytes at \(index)") }
            result.append((field, wire, 0, Array(bytes[index..<index + length])))
            index += length
        default: throw TensorBoardFileError(description: "wire type \(wire) at \(index)")
        }
    }
    return result
}

private func decodeEvent(_ bytes: [UInt8]) throws -> TensorBoardEvent {
    var event = TensorBoardEvent()
    for (field, _, number, content) in try fields(bytes) {
        switch field {
        case 1: event.wallTime = Double(bitPattern: number)
        case 2: event.step = Int64(bitPattern: number)
        case 3: event.fileVersion = String(decoding: content, as: UTF8.self)
        case 5:
            for value in try fields(content) where value.field == 1 {
                var tag = "", simple: Float = .nan
                for part in try fields(value.content) {
                    if part.field == 1 { tag = String(decoding: part.content, as: UTF8.self) }
                    if part.field == 2 { simple = Float(bitPattern: UInt32(part.number)) }
                }
                event.scalars.append((tag, simple))
            }
        case 7: event.sessionStatus = try fields(content).first { $0.field == 1 }.map { Int64(bitPattern: $0.number) }
        default: break
        }
    }
    return event
}
