import Testing
@testable import FlashMLA

/// The host's argument list for each kernel against the kernel's parameter list, parsed from the
/// embedded `.cu` sources: same count, same order, same names and the same kinds (pointer, i64,
/// int, float, tensor map). A kernel parameter added, dropped or moved on one side only (the
/// attn_sink pointer, say) fails here, with no GPU.
@Suite struct LaunchArgumentTests {
    typealias Kind = LaunchArguments.Kind

    // MARK: Parsing the sources

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

    /// Splits at commas outside parentheses.
    static func topLevelSplit(_ text: String) -> [String] {
        var parts: [String] = [], current = "", depth = 0
        for character in text {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1 }
            if character == ",", depth == 0 { parts.append(current); current = "" } else { current.append(character) }
        }
        parts.append(current)
        return parts.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }

    /// The parameters of the first `__global__` entry point in `unit` (after macro expansion of
    /// `FMLA_SM90_PARAMS`), as (name, kind).
    static func entryParameters(_ unit: String) throws -> [(name: String, kind: Kind)] {
        let sources = KernelCatalog.sources
        var text = flattened(try #require(sources[unit], "\(unit) is not embedded"))
        if text.range(of: "__global__ void") == nil, text.contains("FMLA_DECODE_SM90(") {
            text = flattened(try #require(sources["sm90/tile.cuh"]))   // the Hopper entry points' macro
        }
        if text.range(of: "__global__ void") == nil, text.contains("FMLA_DECODE_BYTE_STRIDED(") {
            // The byte-strided portable entry points' macro (paged and FP8 units).
            let header = flattened(try #require(sources["sm80/decode.cuh"]))
            let define = try #require(header.range(of: "#define FMLA_DECODE_BYTE_STRIDED("))
            text = String(header[define.lowerBound...])
        }
        let global = try #require(text.range(of: "__global__ void"), "no entry point in \(unit)")
        var rest = String(text[global.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
        if rest.hasPrefix("__launch_bounds__") { rest = try #require(parenthesized(rest)).rest }
        var parameters = try #require(parenthesized(rest), "no parameter list in \(unit)").inner
        if parameters.contains("FMLA_SM90_PARAMS") {
            let tile = flattened(try #require(sources["sm90/tile.cuh"]))
            let define = try #require(tile.range(of: "#define FMLA_SM90_PARAMS(T, RESTRICT)"))
            let body = tile[define.upperBound...].prefix { $0 != "\n" }
            let expansion = body.replacingOccurrences(of: "RESTRICT", with: "")
            parameters = parameters.replacingOccurrences(
                of: #"FMLA_SM90_PARAMS\([^)]*\)"#, with: expansion, options: .regularExpression)
        }
        return try topLevelSplit(parameters).map { declaration in
            let tokens = declaration.split(whereSeparator: { $0 == " " || $0 == "*" || $0 == "\n" || $0 == "\t" })
            let name = String(try #require(tokens.last))
            let kind: Kind
            if declaration.contains("TensorMap") { kind = .tensorMap }
            else if declaration.contains("*") { kind = .pointer }
            else if tokens.contains("i64") { kind = .int64 }
            else if tokens.contains("int") { kind = .int32 }
            else if tokens.contains("float") { kind = .float32 }
            else { Issue.record("unknown parameter type in \(unit): \(declaration)"); kind = .int32 }
            return (name, kind)
        }
    }

    // MARK: Problems in (fake) device memory

    static func device(_ type: ElementType, _ shape: [Int], _ address: UInt64) -> TensorView {
        TensorView(elementType: type, shape: shape, storage: .device(ordinal: 0, address: address))
    }

    static func metadata(batch: Int, rows: Int, kvHeads: Int) -> MLAMetadata {
        let parts = 4
        return MLAMetadata(shape: MetadataShape(batchSize: batch, rowsPerKVHead: rows, kvHeads: kvHeads, numSMParts: parts),
                           tileSchedulerMetadata: device(.int32, [parts, TileSchedule.fieldsPerPart], 0x1000),
                           numSplits: device(.int32, [batch + 1], 0x2000), hostSchedule: nil, owners: [])
    }

    static func dense(pageSize: Int, format: KVCacheFormat) throws -> DecodeProblem {
        let b = 2, sQ = 1, hQ = 16, hKV = 1, pages = 8
        let cache: TensorView
        switch format {
        case .native: cache = device(.bfloat16, [pages, pageSize, hKV, 576], 0x10000)
        case .fp8PerTensor: cache = device(.float8E4M3, [pages, pageSize, hKV, 576], 0x10000)
        case .fp8DeepSeek: cache = device(.uint8, [pages, pageSize, hKV, 656], 0x10000)
        }
        return try DecodeProblem(
            q: device(.bfloat16, [b, sQ, hQ, 576], 0x3000), kCache: cache, blockTable: device(.int32, [b, 4], 0x4000),
            cacheSeqlens: device(.int32, [b], 0x5000), headDimV: 512, metadata: metadata(batch: b, rows: sQ * hQ / hKV, kvHeads: hKV),
            softmaxScale: 0.1, causal: false, kvFormat: format, attnSink: device(.float32, [hQ], 0x6000),
            out: device(.bfloat16, [b, sQ, hQ, 512], 0x7000), lse: device(.float32, [b, hQ, sQ], 0x8000),
            backend: .cuda(device: 0))
    }

    static func sparse(format: KVCacheFormat, topkLength: Bool) throws -> DecodeProblem {
        let b = 2, sQ = 2, hQ = 64, topk = 100
        let cache = format == .fp8DeepSeek ? device(.uint8, [8, 61, 1, 656], 0x10000) : device(.bfloat16, [8, 61, 1, 576], 0x10000)
        let indices = SparseIndices(indices: device(.int32, [b, sQ, topk], 0x4000),
                                    topkLength: topkLength ? device(.int32, [b], 0x5000) : nil)
        return try DecodeProblem(
            q: device(.bfloat16, [b, sQ, hQ, 576], 0x3000), kCache: cache, sparse: indices, headDimV: 512,
            metadata: metadata(batch: b, rows: sQ * hQ, kvHeads: 1), softmaxScale: 0.1, kvFormat: format,
            attnSink: device(.float32, [hQ], 0x6000), out: device(.bfloat16, [b, sQ, hQ, 512], 0x7000),
            lse: device(.float32, [b, hQ, sQ], 0x8000), backend: .cuda(device: 0))
    }

    static func expectSame(_ host: [(name: String, kind: Kind)], _ kernel: [(name: String, kind: Kind)], _ unit: String) {
        #expect(host.map(\.name) == kernel.map(\.name), "argument names of \(unit)")
        #expect(host.map(\.kind) == kernel.map(\.kind), "argument kinds of \(unit)")
    }

    static let accumulators: (out: UInt64, lse: UInt64) = (0x9000, 0xA000)

    // MARK: Tests

    @Test("the portable kernels: 64-token pages, any page size, FP8 (per-tensor and DeepSeek)", arguments: [
        (64, KVCacheFormat.native, "sm80/decode.cu"), (1, .native, "sm80/decode_paged.cu"), (61, .native, "sm80/decode_paged.cu"),
        (64, .fp8PerTensor(scale: 0.5), "sm80/decode_fp8.cu"), (1, .fp8DeepSeek, "sm80/decode_fp8.cu"),
    ])
    func portable(pageSize: Int, format: KVCacheFormat, unit: String) throws {
        let problem = try Self.dense(pageSize: pageSize, format: format)
        let cache = PortableCache(format: format, pageSize: pageSize)
        #expect(cache.unit.rawValue == unit)
        let tile = try #require(DecodeTile.choose(rowsPerKVHead: problem.rowsPerTile, sharedMemoryLimit: 232_448, cache: cache))
        let host = CUDABackend.portableArguments(problem, tile: tile, accumulators: Self.accumulators, errorFlag: 0xB000)
        Self.expectSame(host.signature, try Self.entryParameters(unit), unit)
        #expect(host.arguments.count == host.signature.count)
    }

    @Test("the sparse kernel, native and FP8-DS caches, with and without topkLength", arguments: [
        (KVCacheFormat.native, false), (.native, true), (.fp8DeepSeek, false), (.fp8DeepSeek, true),
    ])
    func sparse(format: KVCacheFormat, topkLength: Bool) throws {
        let problem = try Self.sparse(format: format, topkLength: topkLength)
        #expect(PortableCache(format: format, pageSize: problem.pageSize, sparse: true).unit == .decodeSM80Sparse)
        let host = CUDABackend.sparseArguments(problem, accumulators: Self.accumulators, errorFlag: 0xB000)
        Self.expectSame(host.signature, try Self.entryParameters("sm80/decode_sparse.cu"), "sm80/decode_sparse.cu")
        #expect(host.arguments.count == host.signature.count)
    }

    @Test("the Hopper kernels", arguments: ["sm90/decode_lockstep.cu", "sm90/decode_seesaw.cu"])
    func hopper(unit: String) throws {
        let problem = try Self.dense(pageSize: 64, format: .native)
        let host = CUDABackend.hopperArguments(problem, map: nil, accumulators: Self.accumulators, errorFlag: 0xB000)
        Self.expectSame(host.signature, try Self.entryParameters(unit), unit)
    }

    @Test("the combine, dense and sparse")
    func combine() throws {
        for problem in [try Self.dense(pageSize: 1, format: .native), try Self.sparse(format: .native, topkLength: true)] {
            let host = CUDABackend.combineArguments(problem, accumulators: Self.accumulators)
            Self.expectSame(host.signature, try Self.entryParameters("combine.cu"), "combine.cu")
        }
    }

    @Test("the scheduler")
    func scheduler() throws {
        let host = CUDABackend.schedulerArguments(lengths: 0, batch: 3, parts: 4, rows: 128, tileSchedulerMetadata: 0x1000,
                                                  numSplits: 0x2000, cap: 100)
        Self.expectSame(host.signature, try Self.entryParameters("scheduler.cu"), "scheduler.cu")
    }

    @Test("the parser reads a macro-made entry point and a plain one")
    func parserSelfCheck() throws {
        let sparse = try Self.entryParameters("sm80/decode_sparse.cu")
        #expect(sparse.count == 29)
        #expect(sparse.first?.name == "q" && sparse.last?.name == "ind_seq_stride")
        #expect(sparse.last?.kind == .int64)
        let lockstep = try Self.entryParameters("sm90/decode_lockstep.cu")
        #expect(lockstep.first?.kind == .tensorMap && lockstep.last?.name == "attn_sink")
    }
}
