/// out = a + b, elementwise.
public func residualForward(out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        let total = UnsafeRawPointer(a + i).loadUnaligned(as: Float8.self) + UnsafeRawPointer(b + i).loadUnaligned(as: Float8.self)
        UnsafeMutableRawPointer(out + i).storeBytes(of: total, as: Float8.self)
        i += 8
    }
    while i < count {
        out[i] = a[i] + b[i]
        i += 1
    }
}

/// da += dout, db += dout.
public func residualBackward(da: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        let gradient = UnsafeRawPointer(dout + i).loadUnaligned(as: Float8.self)
        let newA = UnsafeRawPointer(da + i).loadUnaligned(as: Float8.self) + gradient
        let newB = UnsafeRawPointer(db + i).loadUnaligned(as: Float8.self) + gradient
        UnsafeMutableRawPointer(da + i).storeBytes(of: newA, as: Float8.self)
        UnsafeMutableRawPointer(db + i).storeBytes(of: newB, as: Float8.self)
        i += 8
    }
    while i < count {
        da[i] += dout[i]
        db[i] += dout[i]
        i += 1
    }
}
