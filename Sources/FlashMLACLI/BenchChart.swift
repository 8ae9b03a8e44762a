// BenchChart: the SVG chart of a bench run.
import Foundation

/// An SVG chart of a bench run: per configuration our time, FlashMLA's (when given) and the floor
/// `max(bytes / copy rate, FLOPs / GEMM rate)`, with our time as a percentage of the floor.
/// Plain SVG text, no dependencies; every configuration is a `<g class="config">` whose `data-`
/// attributes hold its numbers.
struct BenchChart {
    /// The rates the floor is computed from.
    struct Rates: Equatable {
        /// Copy rate in GB/s (10⁹ bytes).
        var copyGBps: Double
        /// Dense GEMM rate in TFLOP/s.
        var gemmTFLOPS: Double

        /// An H200's: 4276 GB/s copy, 780 TFLOPS bf16 GEMM.
        static let h200 = Rates(copyGBps: 4276, gemmTFLOPS: 780)
    }

    /// One configuration's bars.
    struct Row: Equatable {
        /// The configuration, e.g. `b=128 s_q=1 mean_sk=4096 h_q=16 h_kv=1 causal`.
        var label: String
        /// Our median time, ms.
        var oursMilliseconds: Double
        /// FlashMLA's, ms, when known.
        var flashMLAMilliseconds: Double?
        /// The floor, ms.
        var floorMilliseconds: Double

        /// Our time as a percentage of the floor: floor / ours · 100.
        var percentOfFloor: Double { floorMilliseconds / oursMilliseconds * 100 }
        /// FlashMLA's time over ours (> 1: we are faster).
        var flashMLAOverOurs: Double? { flashMLAMilliseconds.map { $0 / oursMilliseconds } }
    }

    /// The rows.
    var rows: [Row]
    /// The rates.
    var rates: Rates
    /// The title (grid, device).
    var title: String

    /// The floor of `result`: `max(bytes / copy, FLOPs / GEMM)` in ms.
    static func floorMilliseconds(_ result: BenchResult, rates: Rates) -> Double {
        max(result.bytes / (rates.copyGBps * 1e9), result.flops / (rates.gemmTFLOPS * 1e12)) * 1e3
    }

    /// A chart of `results`, with FlashMLA's times from `baseline` where it has the configuration.
    init(results: [BenchResult], baseline: FlashMLABaseline?, rates: Rates, title: String) {
        self.rates = rates
        self.title = title
        rows = results.map { result in
            Row(label: result.config.summary + " " + result.dtype.rawValue, oursMilliseconds: result.milliseconds,
                flashMLAMilliseconds: baseline?.milliseconds(for: result.config, dtype: result.dtype),
                floorMilliseconds: Self.floorMilliseconds(result, rates: rates))
        }
    }

    // MARK: - SVG

    private static let width = 1000.0, labelWidth = 360.0, barsWidth = 400.0, rowHeight = 40.0, top = 86.0
    private static let oursColor = "#1f77b4", flashMLAColor = "#ff7f0e"

    /// The chart as an SVG document.
    var svg: String {
        let scale = rows.flatMap { [$0.oursMilliseconds, $0.floorMilliseconds] + ($0.flashMLAMilliseconds.map { [$0] } ?? []) }
            .filter(\.isFinite).max() ?? 1
        let x0 = Self.labelWidth, height = Self.top + Double(rows.count) * Self.rowHeight + 20
        func position(_ ms: Double) -> Double { x0 + (ms.isFinite ? ms : 0) / max(scale, 1e-12) * Self.barsWidth }
        func x(_ ms: Double) -> String { Self.number(position(ms), 1) }
        func barWidth(_ ms: Double) -> String { Self.number(position(ms) - x0, 1) }
        var out = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(Self.width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(Self.width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="10" y="22" font-size="16" font-weight="bold">\(Self.escape(title))</text>
            <text x="10" y="42" class="rates" data-copy-gbps="\(Self.number(rates.copyGBps, 1))" \
            data-gemm-tflops="\(Self.number(rates.gemmTFLOPS, 1))">floor = max(bytes / \(Self.number(rates.copyGBps, 1)) GB/s, \
            FLOPs / \(Self.number(rates.gemmTFLOPS, 1)) TFLOPS); % of floor = floor / our time</text>
            <rect x="10" y="54" width="12" height="10" fill="\(Self.oursColor)"/><text x="26" y="63">ours</text>
            <rect x="80" y="54" width="12" height="10" fill="\(Self.flashMLAColor)"/><text x="96" y="63">FlashMLA</text>
            <line x1="180" y1="52" x2="180" y2="66" stroke="black" stroke-width="2"/><text x="186" y="63">floor</text>

            """
        for (index, row) in rows.enumerated() {
            let y = Self.top + Double(index) * Self.rowHeight
            let theirs = row.flashMLAMilliseconds
            var attributes = "class=\"config\" data-index=\"\(index)\" data-label=\"\(Self.escape(row.label))\" "
                + "data-ours-ms=\"\(Self.number(row.oursMilliseconds, 4))\" "
                + "data-floor-ms=\"\(Self.number(row.floorMilliseconds, 4))\" "
                + "data-percent-of-floor=\"\(Self.number(row.percentOfFloor, 1))\""
            if let theirs { attributes += " data-flashmla-ms=\"\(Self.number(theirs, 4))\"" }
            var summary = "\(Self.number(row.percentOfFloor, 0))% of floor"
            if let ratio = row.flashMLAOverOurs { summary += " · FlashMLA / ours \(Self.number(ratio, 3))" }
            out += "<g \(attributes)>\n"
            out += "<title>\(Self.escape(row.label)): ours \(Self.number(row.oursMilliseconds, 4)) ms"
                + (theirs.map { ", FlashMLA \(Self.number($0, 4)) ms" } ?? "")
                + ", floor \(Self.number(row.floorMilliseconds, 4)) ms</title>\n"
            out += "<text x=\"10\" y=\"\(Self.number(y + 15, 1))\">\(Self.escape(row.label))</text>\n"
            out += "<rect x=\"\(x0)\" y=\"\(Self.number(y + 4, 1))\" width=\"\(barWidth(row.oursMilliseconds))\" "
                + "height=\"12\" fill=\"\(Self.oursColor)\"/>\n"
            out += "<text x=\"\(x(row.oursMilliseconds))\" dx=\"4\" y=\"\(Self.number(y + 14, 1))\" font-size=\"10\">"
                + "\(Self.number(row.oursMilliseconds, 4)) ms</text>\n"
            if let theirs {
                out += "<rect x=\"\(x0)\" y=\"\(Self.number(y + 18, 1))\" width=\"\(barWidth(theirs))\" "
                    + "height=\"12\" fill=\"\(Self.flashMLAColor)\"/>\n"
                out += "<text x=\"\(x(theirs))\" dx=\"4\" y=\"\(Self.number(y + 28, 1))\" font-size=\"10\">"
                    + "\(Self.number(theirs, 4)) ms</text>\n"
            }
            out += "<line x1=\"\(x(row.floorMilliseconds))\" y1=\"\(Self.number(y + 2, 1))\" x2=\"\(x(row.floorMilliseconds))\" "
                + "y2=\"\(Self.number(y + 32, 1))\" stroke=\"black\" stroke-width=\"2\"/>\n"
            out += "<text x=\"\(Self.number(x0 + Self.barsWidth + 80, 1))\" y=\"\(Self.number(y + 15, 1))\">\(Self.escape(summary))</text>\n"
            out += "</g>\n"
        }
        return out + "</svg>\n"
    }

    /// `value` with `decimals` digits after the point (`0` when not finite, so the SVG stays valid).
    static func number(_ value: Double, _ decimals: Int) -> String {
        String(format: "%.\(decimals)f", value.isFinite ? value : 0)
    }

    /// `text` with XML's special characters escaped.
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}
