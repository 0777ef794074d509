// libFuzzer target: a model's config.json, read into the model's shape and validated.
import Foundation
import Model

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? ModelConfig(huggingFaceConfig: Data(bytes: data, count: size), file: "config.json")
    return 0
}
