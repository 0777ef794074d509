import ArgumentParser
import Foundation
import RunReport

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One self-contained HTML page of one or more runs: curves, the before/after table, the configuration.",
        discussion: """
            Reads each run folder's metrics.jsonl, summary.json and config.yaml (whatever exists; the page says what \
            is missing) and draws loss, rewards chosen/rejected, margins, accuracies, prefers_chosen, log-probs, \
            grad_norm, learning rate and every other logged metric over steps, training solid and evaluation dashed, \
            several runs overlaid in their own colours. The page has inline SVG and CSS only: no script, nothing from \
            the network. Written to the first RUN_DIR's report.html unless --output says where.
            """)

    @Argument(help: "Run folders (output_dir of dpo-dist train or sft).")
    var runs: [String]

    @Option(name: .long, help: "Where to write the page (default: RUN_DIR/report.html of the first run).")
    var output: String?

    func run() throws {
        do {
            let folders = try runs.map { try RunFolder(url: URL(fileURLWithPath: $0), label: $0) }
            let page = ReportPage(runs: folders)
            let destination = URL(fileURLWithPath: output ?? (runs[0] as NSString).appendingPathComponent("report.html"))
            do {
                try page.html.write(to: destination, atomically: true, encoding: .utf8)
            } catch {
                throw RunFolderError("\(destination.path): cannot write the report: \(error.localizedDescription)")
            }
            for folder in folders {
                for note in folder.notes { print("\(folder.label): \(note)") }
            }
            print("wrote \(destination.path): \(page.chartedMetrics.count) charts of \(folders.count) run(s)")
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
