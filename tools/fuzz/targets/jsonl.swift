// libFuzzer target: dataset files (JSON Lines or a JSON array of preference records), read as `train_dataset` is.
import PreferenceData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? PreferenceDataset.load(path: writeInput(data, size, as: "data.jsonl"))
    return 0
}
