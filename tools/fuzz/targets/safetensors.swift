// libFuzzer target: safetensors files (header, then every tensor's data converted to Float).
import Checkpoint
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let url = URL(fileURLWithPath: writeInput(data, size, as: "model.safetensors"))
    guard let file = try? SafeTensorsFile.read(contentsOf: url) else { return 0 }
    for name in file.names { _ = try? file.tensor(named: name).floats() }
    return 0
}
