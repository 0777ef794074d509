/// The few protocol-buffer encodings an event file needs: varints, 64-bit doubles, 32-bit floats and length-delimited
/// strings and messages, each behind its field number and wire type.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    private mutating func key(_ field: Int, wireType: UInt64) {
        varint(UInt64(field) << 3 | wireType)
    }

    /// An `int64` or enum field (wire type 0); negative numbers take ten bytes, as in protobuf.
    mutating func integer(_ field: Int, _ value: Int64) {
        key(field, wireType: 0)
        varint(UInt64(bitPattern: value))
    }

    /// A `double` field (wire type 1, little-endian).
    mutating func double(_ field: Int, _ value: Double) {
        key(field, wireType: 1)
        bytes += withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init)
    }

    /// A `float` field (wire type 5, little-endian).
    mutating func float(_ field: Int, _ value: Float) {
        key(field, wireType: 5)
        bytes += withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init)
    }

    /// A `string`, `bytes` or embedded-message field (wire type 2).
    mutating func lengthDelimited(_ field: Int, _ content: [UInt8]) {
        key(field, wireType: 2)
        varint(UInt64(content.count))
        bytes += content
    }
}
