import Foundation

/// `dpo-dist report`: one self-contained HTML page (inline SVG and CSS, no script, nothing fetched) of one or more
/// runs: the curves of every logged metric over steps with the runs overlaid (training solid, evaluation dashed), the
/// before/after table of each run, and the resolved configurations side by side with the keys that differ marked.
/// The page is also well-formed XML, so tests can check its structure with an XML parser.
public struct ReportPage {
    public let runs: [RunFolder]

    public init(runs: [RunFolder]) {
        self.runs = runs
    }

    /// Charts first in this order (TRL's headline metrics), then every other metric logged.
    static let leadingMetrics = ["loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
                                 "prefers_chosen", "logps/chosen", "logps/rejected", "grad_norm", "learning_rate"]
    /// Fields of a record that are not curves.
    static let notCharted: Set<String> = ["step", "time", "epoch"]
    /// One colour per run, cycling.
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]

    /// The metrics (without `eval_`) that get a chart, in page order.
    public var chartedMetrics: [String] {
        let logged = runs.flatMap(\.metricNames).map { $0.hasPrefix("eval_") ? String($0.dropFirst(5)) : $0 }
            .filter { !Self.notCharted.contains($0) }
        var names: [String] = Self.leadingMetrics.filter(logged.contains)
        for name in logged where !names.contains(name) { names.append(name) }
        return names
    }

    /// The chart of `metric`: for each run, its training curve and its evaluation curve where it has them.
    public func chart(_ metric: String) -> LineChart {
        var series: [LineChart.Series] = []
        for (index, run) in runs.enumerated() {
            let color = Self.palette[index % Self.palette.count]
            let name = runs.count > 1 ? run.label + " " : ""
            let train = run.points(metric), eval = run.points("eval_" + metric)
            if !train.isEmpty { series.append(.init(label: name + "train", points: train, color: color)) }
            if !eval.isEmpty { series.append(.init(label: name + "eval", points: eval, color: color, dashed: true)) }
        }
        return LineChart(title: metric, xLabel: "step", series: series)
    }

    public var html: String {
        let title = "dpo-dist report: " + runs.map(\.label).joined(separator: ", ")
        var body: [String] = ["<h1>\(escapeXML(title))</h1>", "<section id=\"runs\"><h2>Runs</h2><ul>"]
        for (index, run) in runs.enumerated() {
            let color = Self.palette[index % Self.palette.count]
            let steps = run.points("loss").last.map { " · last logged step \(Int($0.x))" } ?? ""
            let path = run.url.path == run.label ? "" : " <span class=\"path\">\(escapeXML(run.url.path))</span>"
            body.append("<li><span class=\"swatch\" style=\"background:\(color)\"></span><b>\(escapeXML(run.label))</b>"
                + "\(path) · \(run.records.count) records\(steps)"
                + (run.notes.isEmpty ? "" : "<ul class=\"notes\">" + run.notes.map { "<li>\(escapeXML($0))</li>" }.joined()
                    + "</ul>") + "</li>")
        }
        body.append("</ul></section>")
        body.append(summarySection)
        body.append("<section id=\"curves\"><h2>Training and evaluation curves</h2>"
            + "<p class=\"hint\">Solid: training records (means over each logging window); dashed with dots: evaluations "
            + "on the held-out set. Hover a dot for its value.</p><div class=\"charts\">")
        let metrics = chartedMetrics
        if metrics.isEmpty { body.append("<p>No metrics were logged.</p>") }
        for metric in metrics {
            body.append("<figure data-metric=\"\(escapeXML(metric))\">" + chart(metric).svg + "</figure>")
        }
        body.append("</div></section>")
        body.append(configSection)
        return """
            <!DOCTYPE html>
            <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
            <head>
            <meta charset="utf-8"/>
            <title>\(escapeXML(title))</title>
            <style>\(Self.style)</style>
            </head>
            <body>
            \(body.joined(separator: "\n"))
            <footer>Written by dpo-dist report from metrics.jsonl, summary.json and config.yaml.</footer>
            </body>
            </html>

            """
    }

    /// One table for all runs: a row per split and metric (the console table's first), before and after per run.
    private var summarySection: String {
        let summaries = runs.map(\.summary)
        var rows: [(split: String, metric: String, headline: Bool)] = []
        for summary in summaries.compactMap({ $0 }) {
            for split in summary.splits {
                for metric in split.metrics where !rows.contains(where: { $0.split == split.name && $0.metric == metric.name }) {
                    rows.append((split.name, metric.name, summary.tableMetrics.contains(metric.name)))
                }
            }
        }
        var parts = ["<section id=\"summary\"><h2>Before and after training</h2>"]
        for run in runs where run.summary == nil {
            parts.append("<p><b>\(escapeXML(run.label))</b>: no summary.json yet.</p>")
        }
        guard !rows.isEmpty else { return (parts + ["</section>"]).joined(separator: "\n") }
        let shown = runs.filter { $0.summary != nil }
        parts.append("<table class=\"summary\"><tr><th rowspan=\"2\">split</th><th rowspan=\"2\">metric</th>"
            + shown.map { "<th colspan=\"2\">\(escapeXML($0.label)) (\($0.summary!.steps) steps)</th>" }.joined() + "</tr><tr>"
            + shown.map { _ in "<th>before</th><th>after</th>" }.joined() + "</tr>")
        for row in rows {
            let cells = shown.map { run -> String in
                let metric = run.summary!.splits.first { $0.name == row.split }?.metrics.first { $0.name == row.metric }
                return "<td>\(Self.number(metric?.before))</td><td>\(Self.number(metric?.after))</td>"
            }
            parts.append("<tr\(row.headline ? " class=\"headline\"" : "")><td>\(escapeXML(row.split))</td>"
                + "<td>\(escapeXML(row.metric))</td>" + cells.joined() + "</tr>")
        }
        return (parts + ["</table></section>"]).joined(separator: "\n")
    }

    private var configSection: String {
        var keys: [String] = []
        for run in runs {
            for (key, _) in run.config ?? [] where !keys.contains(key) { keys.append(key) }
        }
        guard !keys.isEmpty else {
            return "<section id=\"config\"><h2>Configuration</h2><p>No run has a config.yaml.</p></section>"
        }
        let values = runs.map { run in Dictionary((run.config ?? []).map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }) }
        var parts = ["<section id=\"config\"><h2>Configuration</h2>"
            + (runs.count > 1 ? "<p class=\"hint\">Keys whose values differ between the runs are marked.</p>" : "")
            + "<table class=\"config\"><tr><th>key</th>" + runs.map { "<th>\(escapeXML($0.label))</th>" }.joined() + "</tr>"]
        for key in keys {
            let row = values.map { $0[key] }
            let differs = runs.count > 1 && Set(row.map { $0 ?? "—" }).count > 1
            parts.append("<tr\(differs ? " class=\"differs\"" : "")><td>\(escapeXML(key))</td>"
                + row.map { "<td>\(escapeXML($0 ?? "—"))</td>" }.joined() + "</tr>")
        }
        return (parts + ["</table></section>"]).joined(separator: "\n")
    }

    private static func number(_ value: Double?) -> String {
        value.map { String(format: "%.4f", $0) } ?? "—"
    }

    private static let style = """
        body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;background:#fff}
        h1{font-size:20px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
        .path{color:#777;font-family:monospace;font-size:12px}.notes{color:#a15c00;font-size:13px}
        .swatch{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle}
        .charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;border:1px solid #eee;padding:4px}
        .chart text{font-size:11px;fill:#333}.chart .chart-title{font-size:13px;font-weight:600}
        .chart .grid{stroke:#eee}.chart .frame{stroke:#999}.chart .no-data{fill:#999}
        table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:2px 8px;text-align:left}
        caption{font-weight:600;text-align:left;padding:4px 0}.summary td:nth-child(n+3){text-align:right;font-family:monospace}
        .summary tr.headline{background:#f3f7ff}.config td{font-family:monospace}.config tr.differs{background:#fff4d6}
        .hint{color:#666;font-size:13px}footer{margin-top:32px;color:#999;font-size:12px}
        """
}
