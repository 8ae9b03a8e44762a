// KernelSourceParsing: what the tests read from the embedded kernel sources (entry points, parameter structs), and NVRTC probes.
import Foundation
import NVRTC
import Testing
@testable import FlashMLA

/// Readings of the embedded `.cu`/`.cuh` sources, for tests that hold the host equal to the
/// kernels without a GPU: an entry point's parameter list, a parameter struct's C layout.
enum KernelSourceParsing {
    /// A source without `//` comments and line continuations.
    static func flattened(_ source: String) -> String {
        var lines: [Substring] = []
        for line in source.replacingOccurrences(of: "\\\n", with: " ").split(separator: "\n", omittingEmptySubsequences: false) {
            if let comment = line.range(of: "//") { lines.append(line[..<comment.lowerBound]) } else { lines.append(line) }
        }
        return lines.joined(separator: "\n")
    }

    /// The text between the first `(` of `text` and its match, and the text after the match.
    static func parenthesized(_ text: String) -> (inner: String, rest: String)? {
        let characters = Array(text)
        guard let open = characters.firstIndex(of: "(") else { return nil }
        var depth = 0
        for index in open ..< characters.count {
            if characters[index] == "(" { depth += 1 }
            if characters[index] == ")" {
                depth -= 1
                if depth == 0 { return (String(characters[(open + 1) ..< index]), String(characters[(index + 1)...])) }
            }
        }
        return nil
    }

    /// The parameter declarations of the first `__global__` entry point in `unit`, or in the
    /// header macro that defines the unit's entry points, each as written (`const
    /// __grid_constant__ DecodeParams params`).
    static func entryParameters(_ unit: String) throws -> [String] {
        let sources = KernelCatalog.sources
        var text = flattened(try #require(sources[unit], "\(unit) is not embedded"))
        for (macro, header) in [("FMLA_DECODE_SM90(", "sm90/tile.cuh"), ("FMLA_DECODE_SM80(", "sm80/decode.cuh")]
        where text.range(of: "__global__ void") == nil && text.contains(macro) {
            text = flattened(try #require(sources[header]))
        }
        let global = try #require(text.range(of: "__global__ void"), "no entry point in \(unit)")
        var rest = String(text[global.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
        if rest.hasPrefix("__launch_bounds__") { rest = try #require(parenthesized(rest)).rest }
        let parameters = try #require(parenthesized(rest), "no parameter list in \(unit)").inner
        return parameters.split(separator: ",").map {
            $0.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
    }

    /// A parameter struct as the C compiler lays it out.
    struct CStruct {
        /// A field: its C name, its size (8: a pointer or `i64`, 4: `int` or `float`), whether it
        /// is a floating-point value, and its offset.
        struct Field: Equatable {
            var name: String
            var size: Int
            var isFloat: Bool
            var isPointer: Bool
            var offset: Int
        }
        var fields: [Field]
        /// `sizeof`: the end of the last field rounded up to the largest field size.
        var size: Int
    }

    /// The structs of `common/params.cuh` by name, laid out by C's rules (each field at the next
    /// multiple of its size, the struct padded to a multiple of its largest field). Fields are
    /// pointers, `i64`, `int` or `float`; a declaration may name several non-pointer fields.
    static func parameterStructs() throws -> [String: CStruct] {
        let text = flattened(try #require(KernelCatalog.sources["common/params.cuh"]))
        var structs: [String: CStruct] = [:]
        var rest = Substring(text)
        while let start = rest.range(of: "struct ") {
            let afterKeyword = rest[start.upperBound...]
            let name = String(afterKeyword.prefix { $0.isLetter || $0.isNumber || $0 == "_" })
            let open = try #require(afterKeyword.firstIndex(of: "{"))
            let close = try #require(afterKeyword[open...].firstIndex(of: "}"))
            var fields: [CStruct.Field] = [], end = 0, largest = 1
            for declaration in afterKeyword[afterKeyword.index(after: open) ..< close].split(separator: ";") {
                let parts = declaration.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                guard let first = parts.first, !first.isEmpty else { continue }
                let tokens = first.split(whereSeparator: { $0.isWhitespace || $0 == "*" }).map(String.init)
                let isPointer = first.contains("*")
                let size: Int
                if isPointer || tokens.contains("i64") { size = 8 } else if tokens.contains("int") || tokens.contains("float") { size = 4 } else {
                    Issue.record("unknown field type in params.cuh: \(first)")
                    size = 4
                }
                let names = [try #require(tokens.last)] + parts.dropFirst()
                for field in names {
                    let offset = (end + size - 1) / size * size
                    fields.append(.init(name: field, size: size, isFloat: !isPointer && tokens.contains("float"),
                                        isPointer: isPointer, offset: offset))
                    end = offset + size
                    largest = max(largest, size)
                }
            }
            structs[name] = CStruct(fields: fields, size: (end + largest - 1) / largest * largest)
            rest = afterKeyword[close...]
        }
        return structs
    }

    /// `q_batch_stride` → `qBatchStride`, `s_q` → `sQ`: the Swift mirror's name for a C field.
    static func camelCase(_ name: String) -> String {
        let words = name.split(separator: "_")
        return String(words.first ?? "") + words.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// Whether an NVRTC library is installed (`FLASHMLA_NVRTC`); the NVRTC probes need one.
    static let nvrtcAvailable = (try? NVRTCLibrary.load()) != nil

    /// Compiles `probe` with every kernel header in front-end-only mode (`-fdevice-syntax-only`:
    /// no code is generated, so a probe of static assertions takes a fraction of a second), for
    /// sm_90a, with `options`; throws NVRTC's log when it does not compile.
    static func compileProbe(_ probe: String, options: [String] = []) throws {
        var sources = KernelCatalog.sources.filter { $0.key.hasSuffix(".cuh") }
        sources["probe.cu"] = probe
        let request = CompileRequest(mainFile: "probe.cu", sources: sources, architecture: "sm_90a",
                                     options: ["-fdevice-syntax-only"] + options)
        _ = try NVRTCCompiler(library: try NVRTCLibrary.load()).compile(request)
    }
}
