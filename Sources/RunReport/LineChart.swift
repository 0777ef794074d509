import Foundation

/// A line chart as a self-contained SVG element: axes with round-number ticks and grid lines, one path per series
/// (dashed ones with a marker per point, each with a tooltip), and a legend under the plot.
public struct LineChart {
    public struct Series {
        public var label: String
        public var points: [(x: Double, y: Double)]
        /// A CSS colour.
        public var color: String
        public var dashed: Bool

        public init(label: String, points: [(x: Double, y: Double)], color: String, dashed: Bool = false) {
            self.label = label
            self.points = points
            self.color = color
            self.dashed = dashed
        }
    }

    public var title: String
    public var xLabel: String
    public var series: [Series]
    public var width = 420.0
    public var plotHeight = 220.0

    public init(title: String, xLabel: String, series: [Series]) {
        self.title = title
        self.xLabel = xLabel
        self.series = series
    }

    private let left = 64.0, right = 16.0, top = 30.0, bottom = 40.0, legendRow = 18.0

    /// The finite points of every series.
    private var finitePoints: [(x: Double, y: Double)] {
        series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
    }

    public var svg: String {
        let height = top + plotHeight + bottom + legendRow * Double(series.count) + 8
        var parts = ["<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"\(format(width))\" "
            + "height=\"\(format(height))\" viewBox=\"0 0 \(format(width)) \(format(height))\" role=\"img\">",
            "<title>\(escapeXML(title))</title>",
            "<text class=\"chart-title\" x=\"\(format(left))\" y=\"18\">\(escapeXML(title))</text>"]
        let points = finitePoints
        guard let xMin = points.map(\.x).min(), let xMax = points.map(\.x).max(),
              let yMin = points.map(\.y).min(), let yMax = points.map(\.y).max() else {
            parts.append("<text class=\"no-data\" x=\"\(format(width / 2))\" y=\"\(format(top + plotHeight / 2))\" "
                + "text-anchor=\"middle\">no data</text>")
            return (parts + legend() + ["</svg>"]).joined(separator: "\n")
        }
        let xTicks = Self.ticks(xMin, xMax), yTicks = Self.ticks(yMin, yMax)
        let xRange = (xTicks.first!, xTicks.last!), yRange = (yTicks.first!, yTicks.last!)
        let plotWidth = width - left - right
        func x(_ value: Double) -> Double {
            left + (xRange.1 > xRange.0 ? (value - xRange.0) / (xRange.1 - xRange.0) : 0.5) * plotWidth
        }
        func y(_ value: Double) -> Double {
            top + plotHeight - (yRange.1 > yRange.0 ? (value - yRange.0) / (yRange.1 - yRange.0) : 0.5) * plotHeight
        }
        for tick in yTicks {
            parts.append("<line class=\"grid\" x1=\"\(format(left))\" x2=\"\(format(left + plotWidth))\" "
                + "y1=\"\(format(y(tick)))\" y2=\"\(format(y(tick)))\"/>")
            parts.append("<text class=\"tick\" x=\"\(format(left - 6))\" y=\"\(format(y(tick) + 4))\" "
                + "text-anchor=\"end\">\(Self.label(tick))</text>")
        }
        for tick in xTicks {
            parts.append("<line class=\"grid\" x1=\"\(format(x(tick)))\" x2=\"\(format(x(tick)))\" "
                + "y1=\"\(format(top))\" y2=\"\(format(top + plotHeight))\"/>")
            parts.append("<text class=\"tick\" x=\"\(format(x(tick)))\" y=\"\(format(top + plotHeight + 16))\" "
                + "text-anchor=\"middle\">\(Self.label(tick))</text>")
        }
        parts.append("<rect class=\"frame\" x=\"\(format(left))\" y=\"\(format(top))\" width=\"\(format(plotWidth))\" "
            + "height=\"\(format(plotHeight))\" fill=\"none\"/>")
        parts.append("<text class=\"axis-label\" x=\"\(format(left + plotWidth / 2))\" y=\"\(format(top + plotHeight + 34))\" "
            + "text-anchor=\"middle\">\(escapeXML(xLabel))</text>")
        for line in series {
            // A non-finite value breaks the line rather than bending it to the axis.
            var path = "", pendingMove = true
            for point in line.points {
                guard point.x.isFinite, point.y.isFinite else { pendingMove = true; continue }
                path += (pendingMove ? "M" : " L") + "\(format(x(point.x))),\(format(y(point.y)))"
                pendingMove = false
            }
            parts.append("<path class=\"series\" data-series=\"\(escapeXML(line.label))\" d=\"\(path)\" fill=\"none\" "
                + "stroke=\"\(line.color)\" stroke-width=\"1.8\"" + (line.dashed ? " stroke-dasharray=\"5 3\"" : "") + "/>")
            let finite = line.points.filter { $0.x.isFinite && $0.y.isFinite }
            if line.dashed || finite.count == 1 {
                for point in finite {
                    parts.append("<circle cx=\"\(format(x(point.x)))\" cy=\"\(format(y(point.y)))\" r=\"2.6\" "
                        + "fill=\"\(line.color)\"><title>\(escapeXML(line.label)) at \(Self.label(point.x)): "
                        + "\(point.y)</title></circle>")
                }
            }
        }
        return (parts + legend() + ["</svg>"]).joined(separator: "\n")
    }

    private func legend() -> [String] {
        series.enumerated().map { index, line in
            let rowY = top + plotHeight + bottom + legendRow * Double(index) + 6
            return "<g class=\"legend\"><line x1=\"\(format(left))\" x2=\"\(format(left + 24))\" y1=\"\(format(rowY))\" "
                + "y2=\"\(format(rowY))\" stroke=\"\(line.color)\" stroke-width=\"2\""
                + (line.dashed ? " stroke-dasharray=\"5 3\"" : "") + "/><text x=\"\(format(left + 30))\" "
                + "y=\"\(format(rowY + 4))\">\(escapeXML(line.label))</text></g>"
        }
    }

    /// About five round ticks (1, 2 or 5 × 10ⁿ apart) whose first and last enclose `low`…`high`.
    static func ticks(_ low: Double, _ high: Double) -> [Double] {
        guard high > low else {
            let pad = low == 0 ? 1 : abs(low) * 0.1
            return ticks(low - pad, high + pad)
        }
        let rough = (high - low) / 5
        let exponent = log10(rough).rounded(.down)
        let mantissa = [1.0, 2, 5, 10].first { $0 * pow(10, exponent) >= rough } ?? 10
        // k · mantissa scaled by a power of ten that is exact (10ⁿ, or a division by it), so 3 × 0.2 reads 0.6.
        func tick(_ k: Double) -> Double { exponent >= 0 ? k * mantissa * pow(10, exponent) : k * mantissa / pow(10, -exponent) }
        let step = tick(1)
        let first = (low / step).rounded(.down), last = (high / step).rounded(.up)
        return stride(from: first, through: last, by: 1).map(tick)
    }

    /// A tick's text: short, without float noise (0.30000000000000004 → 0.3).
    static func label(_ value: Double) -> String {
        if value == 0 { return "0" }
        let magnitude = abs(value)
        if magnitude >= 1e5 || magnitude < 1e-3 { return String(format: "%.2g", value) }
        let text = String(format: "%.4f", value)
        return text.contains(".") ? String(text.reversed().drop { $0 == "0" }.drop { $0 == "." }.reversed()) : text
    }

    private func format(_ value: Double) -> String {
        String(format: "%.1f", value)
    }
}

/// `text` with XML's five special characters escaped, for element text and attribute values.
func escapeXML(_ text: String) -> String {
    var escaped = ""
    for character in text {
        switch character {
        case "&": escaped += "&amp;"
        case "<": escaped += "&lt;"
        case ">": escaped += "&gt;"
        case "\"": escaped += "&quot;"
        case "'": escaped += "&#39;"
        default: escaped.append(character)
        }
    }
    return escaped
}
