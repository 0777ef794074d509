/// out = a + b, elementwise.
public func residualForward(out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        store8(load8(a + i) + load8(b + i), out + i)
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
        let gradient = load8(dout + i)
        store8(load8(da + i) + gradient, da + i)
        store8(load8(db + i) + gradient, db + i)
        i += 8
    }
    while i < count {
        da[i] += dout[i]
        db[i] += dout[i]
        i += 1
    }
}
