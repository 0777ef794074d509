// libFuzzer target: chat templates, parsed and rendered on a short conversation (as a dataset's prompt and
// completions are).
import ChatTemplate

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let source = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let template = try? ChatTemplate(source: source, specialTokens: ["bos_token": "<s>", "eos_token": "</s>"])
    else { return 0 }
    _ = try? template.renderPreference(prompt: [ChatMessage(role: "system", content: "Be brief."),
                                                ChatMessage(role: "user", content: "Hi")],
                                       chosen: [ChatMessage(role: "assistant", content: "Hello!")],
                                       rejected: [ChatMessage(role: "assistant", content: "Go away.")])
    return 0
}
