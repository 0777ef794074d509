import ArgumentParser
import Foundation
import Training

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge a PEFT LoRA adapter into its base model and write a full Hugging Face model folder.",
        discussion: """
            --adapter is a folder with adapter_config.json and adapter_model.safetensors (a LoRA run's output_dir or \
            checkpoint, or one PEFT saved); its base is base_model_name_or_path, a relative path taken against the \
            adapter folder first. Writes model.safetensors, config.json and the base's tokenizer files to --output, \
            as PEFT's merge_and_unload() then save_pretrained() does.
            """)

    @Option(name: .long, help: "PEFT adapter folder.")
    var adapter: String

    @Option(name: .long, help: "Folder to write the merged model to.")
    var output: String

    @Option(name: .long, help: "Threads the kernels may use (0: every core).")
    var threads = 0

    func run() throws {
        do {
            let base = try mergeAdapter(adapter, into: output,
                                        threads: threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount)
            print("merged \(adapter) into its base \(base.path): \(output)")
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
