// BenchResult and its JSON line and table, and the text helpers they use.
import Foundation

/// The measurement of one benchmark configuration, in FlashMLA's terms.
struct BenchResult: Sendable, Equatable {
    /// The configuration measured.
    var config: BenchConfig
    /// `cpu` or `cuda`.
    var backend: String
    /// The kernel that ran (`sm80`, `sm90-lockstep`, `sm90-seesaw`; `cpu` on the CPU backend).
    var kernel: String
    /// The device's name (the CPU model on the CPU backend).
    var device: String
    /// `bf16` or `fp16`.
    var dtype: BenchDType
    /// Σ cache_seqlens.
    var totalSeqlens: Int
    /// The median time of one call, in milliseconds.
    var milliseconds: Double
    /// For a sparse configuration, what its FLOPs and bytes count; nil for a dense one.
    var sparse: SparseFigures? = nil
    /// The rates of the floor the JSON line states (`floor_ms`, `pct_of_floor`); nil: not stated.
    var floorRates: BenchChart.Rates? = nil

    /// FLOPs of one call (FlashMLA's formula, dense or sparse).
    var flops: Double {
        if let sparse {
            return BenchMath.sparseFlops(attendedEntries: sparse.attendedEntries, hQ: config.hQ, d: sparse.queryHeadDim(config.d),
                                         dv: config.dv)
        }
        return BenchMath.flops(sQ: config.sQ, totalSeqlens: totalSeqlens, hQ: config.hQ, d: config.d, dv: config.dv)
    }

    /// Bytes of one call (FlashMLA's formula, dense or sparse).
    var bytes: Double {
        if let sparse {
            return BenchMath.sparseBytes(uniqueTokens: sparse.uniqueTokens, tokenBytes: sparse.tokenBytes, b: config.b,
                                         sQ: config.sQ, hQ: config.hQ, d: sparse.queryHeadDim(config.d), dv: config.dv,
                                         elementBytes: dtype.elementType.byteCount)
        }
        return BenchMath.bytes(b: config.b, sQ: config.sQ, totalSeqlens: totalSeqlens, hQ: config.hQ, hKV: config.hKV,
                               d: config.d, dv: config.dv, elementBytes: dtype.elementType.byteCount)
    }

    /// Achieved TFLOP/s.
    var teraflops: Double { BenchMath.teraflops(flops, milliseconds: milliseconds) }
    /// Achieved GB/s.
    var gigabytesPerSecond: Double { BenchMath.gigabytesPerSecond(bytes, milliseconds: milliseconds) }

    /// One JSON object on one line, keys in a fixed order: `b, s_q, mean_sk, h_q, h_kv, d, dv,
    /// causal, varlen, [topk, kv_format,] impl, backend, kernel, device, dtype, total_seqlens,
    /// [attended, unique_tokens, flop, bytes,] ms, tflops, gbps[, floor_ms, pct_of_floor]` (the
    /// bracketed keys for a sparse configuration, and with ``floorRates``; ms and floor_ms with 4
    /// decimals, pct_of_floor with 1, tflops and gbps as ``JSONText/rate(_:)`` writes them: one
    /// decimal from 1 up, three significant digits below, so a CPU run's 0.011 is not written as 0.0).
    var jsonLine: String {
        var fields: [(String, String)] = [
            ("b", "\(config.b)"), ("s_q", "\(config.sQ)"), ("mean_sk", "\(config.meanSk)"),
            ("h_q", "\(config.hQ)"), ("h_kv", "\(config.hKV)"), ("d", "\(config.d)"), ("dv", "\(config.dv)"),
            ("causal", "\(config.causal)"), ("varlen", "\(config.varlen)"),
        ]
        if let sparse { fields += [("topk", "\(sparse.topk)"), ("kv_format", JSONText.string(sparse.kvFormat.rawValue))] }
        if sparse != nil, let extraTopk = config.extraTopk {
            fields += [("extra_topk", "\(extraTopk)"),
                       ("extra_page_block_size", "\(config.extraPageBlockSize ?? 64)")]
        }
        fields += [
            ("impl", JSONText.string("swift_flash_mla")), ("backend", JSONText.string(backend)),
            ("kernel", JSONText.string(kernel)), ("device", JSONText.string(device)), ("dtype", JSONText.string(dtype.rawValue)),
            ("total_seqlens", "\(totalSeqlens)"),
        ]
        if let sparse {
            fields += [("attended", "\(sparse.attendedEntries)"), ("unique_tokens", "\(sparse.uniqueTokens)"),
                       ("flop", JSONText.number(flops, decimals: 0)), ("bytes", JSONText.number(bytes, decimals: 0))]
        }
        fields += [
            ("ms", JSONText.number(milliseconds, decimals: 4)),
            ("tflops", JSONText.rate(teraflops)),
            ("gbps", JSONText.rate(gigabytesPerSecond)),
        ]
        if let floorRates {
            let floor = BenchChart.floorMilliseconds(self, rates: floorRates)
            fields += [("floor_ms", JSONText.number(floor, decimals: 4)),
                       ("pct_of_floor", JSONText.number(floor / milliseconds * 100, decimals: 1))]
        }
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }
}

/// Minimal JSON text output.
enum JSONText {
    /// `text` as a quoted JSON string.
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20: out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A rate (TFLOP/s, GB/s): one decimal from 1 up (`82.5`), else three significant digits
    /// without an exponent (`0.564`, `0.0114`, `0.000123`); `0.0` for zero; `null` when not finite.
    static func rate(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        guard value != 0, abs(value) < 1 else { return String(format: "%.1f", value) }
        let decimals = min(20, 2 - Int(log10(abs(value)).rounded(.down)))
        return String(format: "%.\(decimals)f", value)
    }

    /// `value` with `decimals` digits after the point; `null` when not finite.
    static func number(_ value: Double, decimals: Int) -> String {
        value.isFinite ? String(format: "%.\(decimals)f", value) : "null"
    }
}

/// The readable summary printed after all configurations.
enum BenchTable {
    /// A table of `results`, headed by the grid name, backend and device; with sparse results a
    /// `sparse` column (topk and cache layout) and a `% of floor` column.
    static func render(_ results: [BenchResult], gridName: String) -> String {
        let sparse = results.contains { $0.sparse != nil }
        var table = TextTable(headers: ["b", "s_q", "mean_sk", "h_q", "h_kv", "causal", "varlen", "dtype"]
                                  + (sparse ? ["sparse"] : []) + ["Σseqlens", "ms", "TFLOPS", "GB/s"] + (sparse ? ["% of floor"] : []),
                              leftAligned: sparse ? [5, 6, 7, 8] : [5, 6, 7])
        for result in results {
            let c = result.config
            let figures = result.sparse.map { "topk \($0.topk) \($0.kvFormat.rawValue)" } ?? "-"
            let floor = result.floorRates.map {
                JSONText.number(BenchChart.floorMilliseconds(result, rates: $0) / result.milliseconds * 100, decimals: 1)
            } ?? "-"
            table.rows.append(["\(c.b)", "\(c.sQ)", "\(c.meanSk)", "\(c.hQ)", "\(c.hKV)",
                               c.causal ? "yes" : "no", c.varlen ? "yes" : "no", result.dtype.rawValue]
                              + (sparse ? [figures] : [])
                              + ["\(result.totalSeqlens)", JSONText.number(result.milliseconds, decimals: 4),
                                 readable(result.teraflops), readable(result.gigabytesPerSecond)]
                              + (sparse ? [floor] : []))
        }
        let devices = Set(results.map { "\($0.backend) · \($0.device)" }).sorted().joined(separator: "; ")
        return "\(gridName): \(results.count) configuration(s) on \(devices)\n" + table.render()
    }
}

/// A rate as the JSON lines write it (``JSONText/rate(_:)``), `-` when not finite.
private func readable(_ value: Double) -> String {
    value.isFinite ? JSONText.rate(value) : "-"
}

/// A plain-text table with columns padded to their widest cell.
struct TextTable {
    /// Column titles.
    var headers: [String]
    /// Cells, one array per row.
    var rows: [[String]] = []
    /// Columns padded on the right (text); the others are right-aligned (numbers).
    var leftAligned: Set<Int> = []

    /// The table, a header line, a rule and one line per row, each ending in a newline.
    func render() -> String {
        let columns = headers.count
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < columns {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            (0..<columns).map { index in
                let cell = index < cells.count ? cells[index] : ""
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                return leftAligned.contains(index) ? cell + padding : padding + cell
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var text = line(headers) + "\n"
        text += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
        for row in rows { text += line(row) + "\n" }
        return text
    }
}

/// Lines for standard error (progress, warnings), unbuffered.
enum StandardError {
    /// Writes `text` and a newline to standard error.
    static func line(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

/// Human-readable byte counts.
enum ByteText {
    /// `bytes` in the largest binary unit that keeps the value ≥ 1, e.g. `227 KiB`, `79.1 GiB`.
    static func format(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes), unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 || value == value.rounded() { return "\(Int(value)) \(units[unit])" }
        return String(format: "%.1f", value) + " " + units[unit]
    }
}
