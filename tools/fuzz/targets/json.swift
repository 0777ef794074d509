// libFuzzer target: the JSON parser (every JSON file dpo-dist reads goes through it). Any input must either parse or
// throw a JSONError; a crash, a hang or unbounded memory is a bug.
import JSON

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? JSONValue.parse(UnsafeRawBufferPointer(start: data, count: size), file: "fuzz.json")
    return 0
}
