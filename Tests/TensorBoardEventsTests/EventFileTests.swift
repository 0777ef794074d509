import Foundation
import Testing
import TensorBoardEvents
import TestSupport

@Suite struct EventFileTests {
    private func folder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("dpo-tb-\(UUID().uuidString)")
    }

    /// The CRC-32C check value of the standard test string, and TFRecord's mask of it.
    @Test func crc32cMatchesTheStandardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        let crc: UInt32 = 0xE306_9283
        #expect(CRC32C.masked(Array("123456789".utf8)) == ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
    }

    @Test func writtenEventsReadBackWithTheirFraming() throws {
        let directory = folder()
        let start = Date(timeIntervalSince1970: 1_700_000_000.25)
        let writer = try EventFileWriter(folder: directory, startStep: 4, wallTime: start)
        #expect(writer.url.lastPathComponent.hasPrefix("events.out.tfevents.1700000000.\(EventFileWriter.hostName).\(getpid())."))
        try writer.write(scalars: [("train/loss", 0.6931471805599453), ("train/rewards/margins", -0.125)], step: 5,
                         wallTime: start.addingTimeInterval(2))
        try writer.write(scalars: [("eval/loss", 0.5)], step: 6, wallTime: start.addingTimeInterval(3))
        let events = try readTensorBoardEvents(writer.url)
        #expect(events.count == 4)
        #expect(events[0].fileVersion == "brain.Event:2" && events[0].wallTime == 1_700_000_000.25 && events[0].step == nil)
        #expect(events[1].sessionStatus == 1 && events[1].step == 4)
        #expect(events[2].step == 5 && events[2].wallTime == 1_700_000_002.25)
        #expect(events[2].scalars.map(\.tag) == ["train/loss", "train/rewards/margins"])
        #expect(events[2].scalars.map(\.value) == [Float(0.6931471805599453), -0.125])
        #expect(events[3].scalars.map(\.tag) == ["eval/loss"] && events[3].step == 6)
    }

    /// The bytes of one event, encoded by hand from event.proto and summary.proto.
    @Test func eventBytesAreTheProtobufEncoding() throws {
        let writer = try EventFileWriter(folder: folder(), startStep: 1, wallTime: Date(timeIntervalSince1970: 0))
        try writer.write(scalars: [("a", 1)], step: 300, wallTime: Date(timeIntervalSince1970: 0))
        let bytes = [UInt8](try Data(contentsOf: writer.url))
        // wall_time (1, fixed64) 0.0; step (2, varint) 300 = AC 02; summary (5, bytes) { value (1) { tag "a", simple_value 1.0f } }
        let event: [UInt8] = [0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0xAC, 0x02,
                              0x2A, 0x0A, 0x0A, 0x08, 0x0A, 0x01, 0x61, 0x15, 0x00, 0x00, 0x80, 0x3F]
        let frame = withUnsafeBytes(of: UInt64(event.count).littleEndian, Array.init)
        let tail = Array(bytes.suffix(event.count + 4))
        #expect(Array(tail.prefix(event.count)) == event)
        #expect(Array(bytes.suffix(event.count + 16).prefix(8)) == frame)
    }

    @Test func aDamagedByteIsFoundByTheChecksum() throws {
        let writer = try EventFileWriter(folder: folder(), startStep: 1)
        try writer.write(scalars: [("train/loss", 1)], step: 1, wallTime: Date())
        var bytes = [UInt8](try Data(contentsOf: writer.url))
        bytes[bytes.count - 6] ^= 0x01
        try Data(bytes).write(to: writer.url)
        #expect(throws: TensorBoardFileError.self) { try readTensorBoardEvents(writer.url) }
    }
}
