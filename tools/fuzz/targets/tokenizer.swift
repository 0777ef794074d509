// libFuzzer target: tokenizer.json (with a fixed tokenizer_config.json naming the EOS token); a tokenizer that loads
// then encodes and decodes a short text.
import Foundation
import Tokenizers

let configWritten: Bool = {
    FileManager.default.createFile(atPath: "\(fuzzFolder)/tokenizer_config.json",
                                   contents: Data(#"{"eos_token": "<|endoftext|>"}"#.utf8))
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = configWritten
    _ = writeInput(data, size, as: "tokenizer.json")
    guard let tokenizer = try? HuggingFaceTokenizer(folder: fuzzFolder) else { return 0 }
    _ = tokenizer.decode(tokenizer.encode("Hello world, <|endoftext|> ünïcode 123"))
    return 0
}
