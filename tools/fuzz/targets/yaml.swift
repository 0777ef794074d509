// libFuzzer target: the YAML config reader's parsing step (Yams' composer under the limits ConfigLoader applies
// first: the file's size and nesting depth). Any input must compose or throw.
import Yams

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = try? Yams.compose(yaml: text)
    return 0
}
