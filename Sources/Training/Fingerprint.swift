/// A 128-bit non-cryptographic fingerprint of byte streams (two independently seeded multiply–rotate lanes over
/// 8-byte words). Fast enough to hash a model's weights on every start; collisions only matter by accident.
struct Fingerprint {
    private var lanes: (UInt64, UInt64) = (0x243F_6A88_85A3_08D3, 0x1319_8A2E_0370_7344)
    private var length: UInt64 = 0

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset + 8 <= bytes.count {
            mix(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
        }
        var tail: UInt64 = 0
        for (shift, byte) in bytes[offset...].enumerated() {
            tail |= UInt64(byte) << (8 * UInt64(shift))
        }
        mix(tail ^ UInt64(bytes.count - offset) << 56)
        length &+= UInt64(bytes.count)
    }

    /// The fingerprint of a flat buffer's values.
    static func of(_ values: UnsafeMutableBufferPointer<Float>) -> String {
        var fingerprint = Fingerprint()
        fingerprint.add(UnsafeRawBufferPointer(values))
        return fingerprint.hex
    }

    /// The fingerprint of one text.
    static func of(_ text: String) -> String {
        var fingerprint = Fingerprint()
        fingerprint.add(Array(text.utf8))
        return fingerprint.hex
    }

    mutating func add(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { add($0) }
    }

    private mutating func mix(_ word: UInt64) {
        lanes.0 = ((lanes.0 ^ word) &* 0x9E37_79B9_7F4A_7C15).rotatedLeft(by: 31) &+ lanes.1
        lanes.1 = ((lanes.1 ^ word) &* 0xC2B2_AE3D_27D4_EB4F).rotatedLeft(by: 29) ^ lanes.0
    }

    var hex: String {
        var copy = self
        copy.mix(length)
        return [copy.lanes.0, copy.lanes.1].map { String($0, radix: 16).leftPadded(to: 16) }.joined()
    }
}

private extension UInt64 {
    func rotatedLeft(by amount: UInt64) -> UInt64 { (self << amount) | (self >> (64 - amount)) }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
