// FlashMLABaseline: FlashMLA's times per configuration, read from its benchmark's JSON lines.
import FlashMLATesting
import Foundation

/// FlashMLA's time per configuration, from the JSON lines its benchmark (`bench_grid.py`) prints:
/// one object per line with `b`, `s_q`, `mean_sk`, `h_q` and `ms` (and optionally `h_kv`,
/// `causal`, `varlen`, `dtype`; defaults 1, true, false, any). A line with `topk` is a sparse
/// decode (`bench/flashmla-head/bench_sparse.py`'s lines): `s_k` may stand for `mean_sk`,
/// `causal` defaults to false and `kv_format` to `fp8-ds` (that script times the FP8 cache); it
/// matches only sparse configurations of the same topk and cache layout. Other lines are ignored.
struct FlashMLABaseline: Equatable {
    /// What a line is matched on.
    struct Key: Hashable {
        var b: Int, sQ: Int, meanSk: Int, hQ: Int, hKV: Int, causal: Bool, varlen: Bool
        /// For a sparse decode, its topk and cache layout (`fp8-ds`, `native`); nil for a dense one.
        var sparse: Sparse?

        /// What tells sparse configurations apart beyond the dense key.
        struct Sparse: Hashable {
            var topk: Int
            var kvFormat: String
        }

        /// The key of one of our configurations.
        init(_ config: BenchConfig) {
            self.init(b: config.b, sQ: config.sQ, meanSk: config.meanSk, hQ: config.hQ, hKV: config.hKV,
                      causal: config.causal, varlen: config.varlen,
                      sparse: config.topk.map { Sparse(topk: $0, kvFormat: (config.kvFormat ?? .native).rawValue) })
        }

        /// A key from its fields.
        init(b: Int, sQ: Int, meanSk: Int, hQ: Int, hKV: Int, causal: Bool, varlen: Bool, sparse: Sparse? = nil) {
            self.b = b
            self.sQ = sQ
            self.meanSk = meanSk
            self.hQ = hQ
            self.hKV = hKV
            self.causal = causal
            self.varlen = varlen
            self.sparse = sparse
        }
    }

    /// One measurement.
    struct Time: Equatable {
        /// Its input type, when the line names one.
        var dtype: BenchDType?
        /// Milliseconds per call.
        var milliseconds: Double
    }

    /// The times, per key (several when lines differ in dtype).
    var times: [Key: [Time]]

    /// FlashMLA's time for `config` in `dtype`: the last line of that key whose dtype is `dtype`
    /// or not given.
    func milliseconds(for config: BenchConfig, dtype: BenchDType) -> Double? {
        times[Key(config)]?.last { $0.dtype == nil || $0.dtype == dtype }?.milliseconds
    }

    /// Parses JSON lines; `source` names the file in errors.
    /// - Throws: ``UsageError`` naming the line and the missing or bad field.
    static func parse(_ text: String, source: String) throws(UsageError) -> FlashMLABaseline {
        var times: [Key: [Time]] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("{") else { continue }
            let place = "\(source) line \(number + 1)"
            guard let object = (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) as? [String: Any] else {
                throw UsageError(place, expected: "a JSON object", given: String(trimmed.prefix(60)))
            }
            func integer(_ name: String, default value: Int? = nil) throws(UsageError) -> Int {
                if object[name] == nil, let value { return value }
                guard let number = object[name] as? NSNumber, let exact = Int(exactly: number.doubleValue) else {
                    throw UsageError("\(place): \(name)", expected: "an integer", given: "\(object[name] ?? "nothing")")
                }
                return exact
            }
            func flag(_ name: String, default value: Bool) throws(UsageError) -> Bool {
                guard let field = object[name] else { return value }
                guard let bool = field as? Bool else {
                    throw UsageError("\(place): \(name)", expected: "true or false", given: "\(field)")
                }
                return bool
            }
            let sparse = object["topk"] == nil ? nil
                : Key.Sparse(topk: try integer("topk"), kvFormat: object["kv_format"] as? String ?? KVFormatChoice.fp8DS.rawValue)
            let meanSk = sparse != nil && object["mean_sk"] == nil ? try integer("s_k") : try integer("mean_sk")
            let key = Key(b: try integer("b"), sQ: try integer("s_q"), meanSk: meanSk,
                          hQ: try integer("h_q"), hKV: try integer("h_kv", default: 1),
                          causal: try flag("causal", default: sparse == nil), varlen: try flag("varlen", default: false),
                          sparse: sparse)
            guard let ms = (object["ms"] as? NSNumber)?.doubleValue, ms.isFinite, ms > 0 else {
                throw UsageError("\(place): ms", expected: "a positive number", given: "\(object["ms"] ?? "nothing")")
            }
            let dtype = (object["dtype"] as? String).flatMap(BenchDType.init(argument:))
            times[key, default: []].append(Time(dtype: dtype, milliseconds: ms))
        }
        guard !times.isEmpty else {
            throw UsageError("--compare \(source)", expected: "JSON lines of FlashMLA's benchmark", given: "no line starting with {")
        }
        return FlashMLABaseline(times: times)
    }

    /// Reads and parses the file at `path`.
    static func load(path: String) throws(UsageError) -> FlashMLABaseline {
        let data: Data
        do {
            data = try GridFile.read(path: path)
        } catch {
            throw UsageError("--compare", expected: "a readable JSON-lines file", given: error.given)
        }
        return try parse(String(decoding: data, as: UTF8.self), source: path)
    }
}
