/// Bit-level conversions from the 16-bit float formats to `Float`.
///
/// Written by hand rather than with `Float16` because `Float16` is unavailable on macOS x86_64;
/// both are exact for every bit pattern (every half and bfloat16 value is representable as a Float).

/// IEEE 754 binary16 → Float, including subnormals, ±0, ±infinity and NaN (payload kept).
@inline(__always)
func floatFromHalfBits(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = UInt32(bits >> 10) & 0x1f
    let mantissa = UInt32(bits & 0x3ff)
    switch exponent {
    case 0:
        // Zero or subnormal: mantissa · 2⁻²⁴, which is a normal (or zero) Float, computed exactly.
        let magnitude = Float(mantissa) * 0x1p-24
        return Float(bitPattern: sign | magnitude.bitPattern)
    case 0x1f:
        return Float(bitPattern: sign | 0x7f80_0000 | mantissa << 13)
    default:
        // Rebias the exponent from 15 to 127.
        return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
    }
}

/// bfloat16 → Float: bfloat16 is the upper half of a Float's bit pattern.
@inline(__always)
func floatFromBFloat16Bits(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// safetensors stores little-endian data; on such hosts F32 tensors can be copied byte for byte.
let hostIsLittleEndian = 1.littleEndian == 1
