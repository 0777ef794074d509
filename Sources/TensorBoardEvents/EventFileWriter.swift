import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TensorBoard event file: TFRecord frames (length, masked CRC-32C of the length, the bytes, their masked CRC-32C)
/// around `tensorboard.Event` protocol buffers. The first event names the format (`file_version` "brain.Event:2"), the
/// second is a `SessionLog` START at the step the writer starts from, so that TensorBoard drops the events a crashed
/// run wrote after the checkpoint it resumes from; then one event per record with `simple_value` scalars.
public final class EventFileWriter {
    public let url: URL
    private let handle: FileHandle

    /// `Event` field numbers (tensorboard/compat/proto/event.proto).
    private enum EventField {
        static let wallTime = 1, step = 2, fileVersion = 3, summary = 5, sessionLog = 7
    }
    /// `Summary` holds repeated `value = 1`; a `Summary.Value` has `tag = 1` and `simple_value = 2`.
    private enum SummaryField {
        static let value = 1, tag = 1, simpleValue = 2
    }
    /// `SessionLog.status = 1`, with START = 1.
    private static let sessionStatusField = 1, sessionStart: Int64 = 1

    /// Writers this process has opened, for unique file names (the last part of the name, as TensorBoard's own writer).
    nonisolated(unsafe) private static var opened = 0

    /// Creates `folder` and `events.out.tfevents.<seconds>.<host>.<pid>.<n>` in it, as TensorBoard's writer names
    /// files, and writes the format event and the session start at `startStep`.
    public init(folder: URL, startStep: Int, wallTime: Date = Date()) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let name = String(format: "events.out.tfevents.%010d.%@.%d.%d", Int(wallTime.timeIntervalSince1970),
                          Self.hostName, Int(getpid()), Self.opened)
        Self.opened += 1
        url = folder.appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
        }
        handle = try FileHandle(forWritingTo: url)
        try write(event(wallTime: wallTime, step: nil) { $0.lengthDelimited(EventField.fileVersion, Array("brain.Event:2".utf8)) })
        try write(event(wallTime: wallTime, step: startStep) { event in
            var session = ProtobufWriter()
            session.integer(Self.sessionStatusField, Self.sessionStart)
            event.lengthDelimited(EventField.sessionLog, session.bytes)
        })
    }

    deinit {
        try? handle.close()
    }

    /// One event at `step` holding every scalar (as TensorBoard's 32-bit `simple_value`).
    public func write(scalars: [(tag: String, value: Double)], step: Int, wallTime: Date) throws {
        var summary = ProtobufWriter()
        for scalar in scalars {
            var value = ProtobufWriter()
            value.lengthDelimited(SummaryField.tag, Array(scalar.tag.utf8))
            value.float(SummaryField.simpleValue, Float(scalar.value))
            summary.lengthDelimited(SummaryField.value, value.bytes)
        }
        try write(event(wallTime: wallTime, step: step) { $0.lengthDelimited(EventField.summary, summary.bytes) })
    }

    private func event(wallTime: Date, step: Int?, content: (inout ProtobufWriter) -> Void) -> [UInt8] {
        var event = ProtobufWriter()
        event.double(EventField.wallTime, wallTime.timeIntervalSince1970)
        if let step { event.integer(EventField.step, Int64(step)) }
        content(&event)
        return event.bytes
    }

    /// Appends one TFRecord frame; each goes to the file at once, so TensorBoard sees a live run.
    private func write(_ data: [UInt8]) throws {
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian, Array.init)
        let frame = length + Self.littleEndian(CRC32C.masked(length)) + data + Self.littleEndian(CRC32C.masked(data))
        try handle.write(contentsOf: Data(frame))
    }

    private static func littleEndian(_ value: UInt32) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian, Array.init)
    }

    /// This machine's name, as in TensorBoard's file names (`socket.gethostname()`).
    public static let hostName: String = {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count) == 0 else { return "localhost" }
        return String(cString: name)
    }()
}
