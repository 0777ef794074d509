import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestSupport
@testable import RunReport

/// The elements of an XML document in order (name, attributes), or the parser's error: the page must be well-formed.
private final class ElementCollector: NSObject, XMLParserDelegate {
    var elements: [(name: String, attributes: [String: String])] = []

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements.append((name, attributes))
    }

    static func elements(of text: String) throws -> [(name: String, attributes: [String: String])] {
        let parser = XMLParser(data: Data(text.utf8))
        let collector = ElementCollector()
        parser.delegate = collector
        guard parser.parse() else {
            throw parser.parserError ?? CocoaError(.fileReadCorruptFile)
        }
        return collector.elements
    }
}

@Suite struct ReportPageTests {
    private func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dpo-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A run folder: training records every 2 steps with a decreasing loss, evaluations every 4.
    private func run(learningRate: String, summary: Bool = true, config: Bool = true) throws -> URL {
        let url = try folder()
        var lines: [String] = []
        for step in stride(from: 2, through: 12, by: 2) {
            let loss = 0.69 / Double(step)
            lines.append("{\"step\": \(step), \"loss\": \(loss), \"rewards/margins\": \(Double(step) / 10), \"grad_norm\": 1.5, "
                + "\"learning_rate\": 0.001, \"epoch\": 0.5, \"time\": 1700000000.5}")
            if step % 4 == 0 {
                lines.append("{\"step\": \(step), \"eval_loss\": \(loss * 1.1), \"eval_rewards/margins\": null, \"epoch\": 0.5}")
            }
        }
        try (lines.joined(separator: "\n") + "\n").write(to: url.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
        if config {
            try "beta: 0.1\nlearning_rate: \(learningRate)\nloss_type: [sigmoid, sft]\nmodel:\n  n_layer: 2\n"
                .write(to: url.appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8)
        }
        if summary {
            let table = RunSummary(steps: 12, tableMetrics: ["loss"], splits: [
                .init(name: "train", metrics: [.init(name: "loss", before: 0.6931, after: 0.0575),
                                               .init(name: "entropy", before: .nan, after: 5)]),
            ])
            try table.json.write(to: url.appendingPathComponent("summary.json"), atomically: true, encoding: .utf8)
        }
        return url
    }

    @Test func ticksAreRoundAndEncloseTheData() {
        #expect(LineChart.ticks(0, 0.69) == [0, 0.2, 0.4, 0.6, 0.8])
        #expect(LineChart.ticks(2, 30) == [0, 10, 20, 30])
        #expect(LineChart.ticks(-0.013, 0.004) == [-0.015, -0.01, -0.005, 0, 0.005])
        let flat = LineChart.ticks(5, 5)
        #expect(flat.first! < 5 && flat.last! > 5)
        #expect(LineChart.label(0.30000000000000004) == "0.3" && LineChart.label(20) == "20" && LineChart.label(9.5e-5) == "9.5e-05")
    }

    @Test func chartIsWellFormedSVGWithOnePathPerSeries() throws {
        let chart = LineChart(title: "loss <train & eval>", xLabel: "step", series: [
            .init(label: "train", points: [(1, 0.7), (2, .nan), (3, 0.5), (4, 0.4)], color: "#1f77b4"),
            .init(label: "eval", points: [(2, 0.6), (4, 0.45)], color: "#1f77b4", dashed: true),
        ])
        let elements = try ElementCollector.elements(of: chart.svg)
        let paths = elements.filter { $0.name == "path" && $0.attributes["class"] == "series" }
        #expect(paths.map { $0.attributes["data-series"] } == ["train", "eval"])
        // The non-finite value breaks the training line into two pieces.
        #expect(paths[0].attributes["d"]?.filter { $0 == "M" }.count == 2)
        #expect(elements.filter { $0.name == "circle" }.count == 2)
        #expect(elements.filter { $0.name == "g" && $0.attributes["class"] == "legend" }.count == 2)
        let empty = try ElementCollector.elements(of: LineChart(title: "x", xLabel: "step", series: []).svg)
        #expect(empty.contains { $0.attributes["class"] == "no-data" })
    }

    @Test func pageOverlaysRunsAndSaysWhatIsMissing() throws {
        let first = try run(learningRate: "0.001")
        let second = try run(learningRate: "0.003", summary: false)
        let bare = try folder()
        let runs = try [RunFolder(url: first, label: "a"), RunFolder(url: second, label: "b"), RunFolder(url: bare, label: "c")]
        #expect(runs[0].notes.isEmpty)
        #expect(runs[1].notes == ["no summary.json: the run has not finished (or was made before dpo-dist saved it)"])
        #expect(runs[2].notes.count == 3 && runs[2].records.isEmpty)
        let page = ReportPage(runs: runs)
        #expect(page.chartedMetrics == ["loss", "rewards/margins", "grad_norm", "learning_rate"])
        let html = page.html
        #expect(html.hasPrefix("<!DOCTYPE html>") && !html.contains("<script") && !html.contains("http://www.w3.org/2000/svg\" src"))
        let elements = try ElementCollector.elements(of: html)
        let charts = elements.filter { $0.name == "figure" }.map { $0.attributes["data-metric"] }
        #expect(charts == page.chartedMetrics)
        #expect(elements.filter { $0.name == "svg" }.count == charts.count)
        // Each chart's series, in page order: loss has training and evaluation curves of both runs; the margins'
        // evaluations were all null; grad_norm and learning_rate are training-only.
        var seriesPerChart: [[String]] = []
        for element in elements {
            if element.name == "svg" { seriesPerChart.append([]) }
            if element.name == "path", element.attributes["class"] == "series" {
                seriesPerChart[seriesPerChart.count - 1].append(element.attributes["data-series"] ?? "")
            }
        }
        #expect(seriesPerChart == [["a train", "a eval", "b train", "b eval"], ["a train", "b train"],
                                   ["a train", "b train"], ["a train", "b train"]])
        // The configurations side by side, every row marked since c has none; a and b differ in learning_rate only.
        let differing = elements.filter { $0.name == "tr" && $0.attributes["class"] == "differs" }.count
        #expect(differing == 4)
        #expect(html.contains("<td>learning_rate</td><td>0.001</td><td>0.003</td><td>—</td>"))
        #expect(html.contains("<td>model.n_layer</td><td>2</td><td>2</td>") && html.contains("[sigmoid, sft]"))
        #expect(html.contains("<td>train</td><td>loss</td><td>0.6931</td><td>0.0575</td>"))
        #expect(html.contains("<td>entropy</td><td>—</td><td>5.0000</td>"))
        #expect(html.contains("no summary.json yet") && html.contains("no config.yaml"))
    }

    @Test func badFilesAreNamedWithTheirLine() throws {
        let url = try run(learningRate: "0.001")
        let metrics = url.appendingPathComponent("metrics.jsonl")
        let good = try String(contentsOf: metrics, encoding: .utf8)
        try (good + "{\"step\": 14, \"loss\": 0.0").write(to: metrics, atomically: true, encoding: .utf8)
        let cut = try RunFolder(url: url, label: "a")
        #expect(cut.notes == ["metrics.jsonl line 10 is cut short and was skipped"] && cut.records.count == 9)
        try ("{\"step\": 1, \"loss\": \"low\"}\n" + good).write(to: metrics, atomically: true, encoding: .utf8)
        #expect(throws: RunFolderError.self) { try RunFolder(url: url, label: "a") }
        do {
            _ = try RunFolder(url: url, label: "a")
        } catch {
            #expect("\(error)".contains("\(metrics.path):1:") && "\(error)".contains("loss"), "\(error)")
        }
        try "[1, 2]".write(to: url.appendingPathComponent("summary.json"), atomically: true, encoding: .utf8)
        try good.write(to: metrics, atomically: true, encoding: .utf8)
        #expect(throws: RunFolderError.self) { try RunFolder(url: url, label: "a") }
        #expect(throws: RunFolderError.self) { try RunFolder(url: url.appendingPathComponent("none"), label: "none") }
    }

    /// The page as a browser draws it: headless Chromium's screenshot, where Chromium is installed.
    @Test func pageRendersInHeadlessChromium() throws {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        guard let chromium = ["chromium", "chromium-browser", "google-chrome"].lazy.flatMap({ name in
            path.map { URL(fileURLWithPath: String($0)).appendingPathComponent(name) }
        }).first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            print("pageRendersInHeadlessChromium: skipped, no chromium on PATH (apt-get install chromium); the page's "
                + "structure is checked by pageOverlaysRunsAndSaysWhatIsMissing")
            return
        }
        let output = try folder()
        let page = output.appendingPathComponent("report.html")
        try ReportPage(runs: [try RunFolder(url: try run(learningRate: "0.001"), label: "a")]).html
            .write(to: page, atomically: true, encoding: .utf8)
        let screenshot = output.appendingPathComponent("report.png")
        let result = runProcess(chromium, arguments: ["--headless", "--no-sandbox", "--disable-gpu",
                                                      "--user-data-dir=\(output.appendingPathComponent("profile").path)",
                                                      "--screenshot=\(screenshot.path)", "--window-size=1400,1600",
                                                      page.absoluteString], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let png = try Data(contentsOf: screenshot)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 20_000, "\(png.count) bytes")
    }
}
