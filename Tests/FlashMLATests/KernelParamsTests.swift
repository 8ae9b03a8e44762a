// Tests of the kernels' parameter structs: the Swift mirrors against common/params.cuh, the entry points, the values.
import Foundation
import Testing
@testable import FlashMLA

/// Every kernel takes one parameter struct of `common/params.cuh` (the Hopper decode kernels the
/// cache's tensor map first); the host builds the same bytes from the Swift mirrors in
/// `CUDA/KernelParams.swift`. These tests hold the two equal without a GPU: a field added,
/// dropped, moved, renamed or retyped on one side only fails here.
@Suite struct KernelParamsTests {
    typealias CStruct = KernelSourceParsing.CStruct

    /// The mirror's fields, in order, against the parsed C struct: names (camelCase), sizes and
    /// kinds, and each field's offset. The offsets are read back: a buffer of the C struct's
    /// size holds a distinct value at each field's C offset, is loaded as the Swift struct, and
    /// each of the Swift struct's fields must hold its own value.
    static func expectMirror<Params: BitwiseCopyable>(_: Params.Type, of name: String) throws {
        let c = try #require(try KernelSourceParsing.parameterStructs()[name], "params.cuh defines no struct \(name)")
        #expect(MemoryLayout<Params>.stride == c.size, "sizeof(\(name))")
        #expect(MemoryLayout<Params>.alignment == 8, "alignof(\(name))")
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(c.size, MemoryLayout<Params>.stride), alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0xEE)
        for (index, field) in c.fields.enumerated() {
            switch (field.size, field.isFloat) {
            case (8, _): buffer.storeBytes(of: UInt64(0x1000 + index), toByteOffset: field.offset, as: UInt64.self)
            case (_, true): buffer.storeBytes(of: Float(index) + 0.5, toByteOffset: field.offset, as: Float.self)
            default: buffer.storeBytes(of: UInt32(0x100 + index), toByteOffset: field.offset, as: UInt32.self)
            }
        }
        let mirror = Mirror(reflecting: buffer.load(as: Params.self))
        let children = Array(mirror.children)
        #expect(children.map(\.label) == c.fields.map { KernelSourceParsing.camelCase($0.name) }, "field names of \(name)")
        #expect(children.count == c.fields.count)
        for (index, (child, field)) in zip(children, c.fields).enumerated() {
            let what = "\(name).\(field.name)"
            switch child.value {
            case let value as UInt64: #expect(field.isPointer && value == UInt64(0x1000 + index), "\(what): a device address at \(field.offset)")
            case let value as Int64: #expect(!field.isPointer && field.size == 8 && value == 0x1000 + Int64(index), "\(what): i64 at \(field.offset)")
            case let value as Int32: #expect(field.size == 4 && !field.isFloat && value == 0x100 + Int32(index), "\(what): int at \(field.offset)")
            case let value as Float: #expect(field.isFloat && value == Float(index) + 0.5, "\(what): float at \(field.offset)")
            default: Issue.record("\(what): the mirror's field is a \(type(of: child.value))")
            }
        }
    }

    @Test func decodeParamsMirrorTheKernelsStruct() throws { try Self.expectMirror(DecodeParams.self, of: "DecodeParams") }
    @Test func combineParamsMirrorTheKernelsStruct() throws { try Self.expectMirror(CombineParams.self, of: "CombineParams") }
    @Test func schedulerParamsMirrorTheKernelsStruct() throws { try Self.expectMirror(SchedulerParams.self, of: "SchedulerParams") }

    /// The parser reads what the compiler lays out: NVRTC (where installed) compiles static
    /// assertions of every parsed offset and size.
    @Test(.enabled(if: KernelSourceParsing.nvrtcAvailable, "needs NVRTC (FLASHMLA_NVRTC)"))
    func theParsedLayoutIsTheCompilers() throws {
        let structs = try KernelSourceParsing.parameterStructs()
        #expect(Set(structs.keys) == ["DecodeParams", "CombineParams", "SchedulerParams"])
        var probe = "#include \"common/params.cuh\"\n"
        for (name, layout) in structs.sorted(by: { $0.key < $1.key }) {
            probe += "static_assert(sizeof(\(name)) == \(layout.size), \"sizeof(\(name))\");\n"
            for field in layout.fields {
                probe += "static_assert(FMLA_OFFSETOF(\(name), \(field.name)) == \(field.offset), \"\(name).\(field.name)\");\n"
            }
        }
        try KernelSourceParsing.compileProbe(probe)
        // The probe can fail: a wrong offset does not compile.
        #expect(throws: (any Error).self) {
            try KernelSourceParsing.compileProbe("#include \"common/params.cuh\"\nstatic_assert(FMLA_OFFSETOF(DecodeParams, kcache) == 0, \"x\");\n")
        }
    }

    /// The parser itself, on the layout rules it must follow.
    @Test func theParserLaysOutByCsRules() throws {
        let decode = try #require(try KernelSourceParsing.parameterStructs()["DecodeParams"])
        #expect(decode.fields.first == .init(name: "q", size: 8, isFloat: false, isPointer: true, offset: 0))
        let sQ = try #require(decode.fields.first { $0.name == "s_q" })
        #expect(sQ.size == 4 && !sQ.isFloat && sQ.offset == 208)
        #expect(decode.fields.first { $0.name == "scale_log2" }?.isFloat == true)
        #expect(decode.size == 256)   // 15 pointers, 11 i64, 12 ints and floats: no padding
        #expect(KernelSourceParsing.camelCase("q_batch_stride") == "qBatchStride" && KernelSourceParsing.camelCase("s_q") == "sQ")
    }

    /// Each unit's entry points take the struct the host passes: `KernelArguments(params)`, or
    /// `KernelArguments(params, after: map)` for the Hopper kernels.
    @Test("each entry point takes its parameter struct", arguments: [
        ("sm80/decode.cu", ["DecodeParams"]), ("sm80/decode_paged.cu", ["DecodeParams"]),
        ("sm80/decode_fp8.cu", ["DecodeParams"]), ("sm80/decode_sparse.cu", ["DecodeParams"]),
        ("sm90/decode_lockstep.cu", ["TensorMap", "DecodeParams"]), ("sm90/decode_seesaw.cu", ["TensorMap", "DecodeParams"]),
        ("combine.cu", ["CombineParams"]), ("scheduler.cu", ["SchedulerParams"]),
    ])
    func entryPointsTakeTheirStruct(unit: String, types: [String]) throws {
        let declarations = try KernelSourceParsing.entryParameters(unit)
        #expect(declarations.count == types.count, "\(unit): \(declarations)")
        for (declaration, type) in zip(declarations, types) {
            // By value, in the constant bank: `const __grid_constant__ <type> <name>`.
            #expect(declaration.hasPrefix("const __grid_constant__ \(type) "), "\(unit): \(declaration)")
        }
    }

    // MARK: The values the host puts in

    static func device(_ type: ElementType, _ shape: [Int], _ address: UInt64) -> TensorView {
        TensorView(elementType: type, shape: shape, storage: .device(ordinal: 0, address: address))
    }

    static func metadata(batch: Int, rows: Int, kvHeads: Int) -> MLAMetadata {
        let parts = 4
        return MLAMetadata(shape: MetadataShape(batchSize: batch, rowsPerKVHead: rows, kvHeads: kvHeads, numSMParts: parts),
                           tileSchedulerMetadata: device(.int32, [parts, TileSchedule.fieldsPerPart], 0x1000),
                           numSplits: device(.int32, [batch + 1], 0x2000), hostSchedule: nil, owners: [])
    }

    static func dense(pageSize: Int, format: KVCacheFormat, causal: Bool = true) throws -> DecodeProblem {
        let b = 2, sQ = 2, hQ = 16, hKV = 1, pages = 8
        let cache: TensorView
        switch format {
        case .native: cache = device(.bfloat16, [pages, pageSize, hKV, 576], 0x10000)
        case .fp8PerTensor: cache = device(.float8E4M3, [pages, pageSize, hKV, 576], 0x10000)
        case .fp8DeepSeek: cache = device(.uint8, [pages, pageSize, hKV, 656], 0x10000)
        case .fp8Model1: cache = device(.uint8, [pages, pageSize, hKV, 584], 0x10000)   // refused: sparse only
        }
        return try DecodeProblem(
            q: device(.bfloat16, [b, sQ, hQ, 576], 0x3000), kCache: cache, blockTable: device(.int32, [b, 4], 0x4000),
            cacheSeqlens: device(.int32, [b], 0x5000), headDimV: 512, metadata: metadata(batch: b, rows: sQ * hQ / hKV, kvHeads: hKV),
            softmaxScale: 0.1, causal: causal, kvFormat: format, attnSink: device(.float32, [hQ], 0x6000),
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
            attnSink: nil, out: device(.bfloat16, [b, sQ, hQ, 512], 0x7000),
            lse: device(.float32, [b, hQ, sQ], 0x8000), backend: .cuda(device: 0))
    }

    static let accumulators: (out: UInt64, lse: UInt64) = (0x9000, 0xA000)
    static let log2e = Float(1.4426950408889634)

    @Test func aDenseProblemsParams() throws {
        let problem = try Self.dense(pageSize: 64, format: .native)
        let params = DecodeParams(problem, accumulators: Self.accumulators, errorFlag: 0xB000)
        // FlashMLA's 64-token pages in q's type: the cache's strides in elements.
        let expected = DecodeParams(
            q: 0x3000, kcache: 0x10000, blockTable: 0x4000, seqlens: 0x5000, sched: 0x1000, numSplits: 0x2000,
            out: 0x7000, lse: 0x8000, oaccum: 0x9000, lseaccum: 0xA000, errorFlag: 0xB000, attnSink: 0x6000,
            extraKcache: 0, extraIndices: 0, extraSeqlens: 0,
            qBatchStride: 2 * 16 * 576, qSeqStride: 16 * 576, qHeadStride: 576,
            kPageStride: 64 * 576, kTokenStride: 576, kHeadStride: 576, btStride: 4, indSeqStride: 0,
            extraPageStride: 0, extraIndBatchStride: 0, extraIndSeqStride: 0,
            sQ: 2, hQ: 16, hKv: 1, numPages: 8, maxPages: 4, scaleLog2: 0.1 * Self.log2e, causal: 1, pageSize: 64, outScale: 1,
            extraTopk: 0, extraNumSlots: 0, extraPageSize: 0)
        #expect(params == expected)
    }

    @Test func otherPageSizesAndFP8TakeTheCachesStridesInBytes() throws {
        let paged = DecodeParams(try Self.dense(pageSize: 61, format: .native), accumulators: Self.accumulators, errorFlag: 0)
        let rowBytes: Int64 = 576 * 2
        #expect(paged.kPageStride == 61 * rowBytes && paged.kTokenStride == rowBytes && paged.kHeadStride == rowBytes)
        #expect(paged.pageSize == 61)
        let fp8 = DecodeParams(try Self.dense(pageSize: 64, format: .fp8PerTensor(scale: 0.5), causal: false),
                               accumulators: Self.accumulators, errorFlag: 0)
        #expect(fp8.kPageStride == 64 * 576 && fp8.kTokenStride == 576 && fp8.kHeadStride == 576)
        // The per-tensor scale multiplies every score and every output.
        #expect(fp8.scaleLog2 == 0.1 * Self.log2e * 0.5)
        #expect(fp8.outScale == 0.5 && fp8.causal == 0)
        let deepSeek = DecodeParams(try Self.dense(pageSize: 1, format: .fp8DeepSeek), accumulators: Self.accumulators, errorFlag: 0)
        #expect(deepSeek.kPageStride == 656 && deepSeek.kTokenStride == 656 && deepSeek.outScale == 1)
    }

    @Test("a sparse problem: indices for the block table, topk_length or null, slots for pages", arguments: [
        (KVCacheFormat.native, false), (.native, true), (.fp8DeepSeek, true),
    ])
    func aSparseProblemsParams(format: KVCacheFormat, topkLength: Bool) throws {
        let params = DecodeParams(try Self.sparse(format: format, topkLength: topkLength), accumulators: Self.accumulators, errorFlag: 0)
        #expect(params.blockTable == 0x4000 && params.attnSink == 0)
        #expect(params.seqlens == (topkLength ? 0x5000 : 0))
        #expect(params.btStride == 2 * 100 && params.indSeqStride == 100)
        #expect(params.numPages == 8 * 61 && params.maxPages == 100)
        #expect(params.causal == 0 && params.pageSize == 61)
        let bytes: Int64 = format == .fp8DeepSeek ? 656 : 576 * 2
        #expect(params.kPageStride == 61 * bytes && params.kTokenStride == bytes)
    }

    @Test func theCombinesAndTheSchedulersParams() throws {
        let combine = CombineParams(try Self.dense(pageSize: 64, format: .native), accumulators: Self.accumulators)
        #expect(combine == CombineParams(lseaccum: 0xA000, oaccum: 0x9000, numSplits: 0x2000, out: 0x7000, lse: 0x8000,
                                         attnSink: 0x6000, hQ: 16, sQ: 2, hKv: 1))
        let scheduler = SchedulerParams(lengths: 0x5000, batch: 3, parts: 4, policy: .standard(rowsPerKVHead: 128), tileSchedulerMetadata: 0x1000,
                                        numSplits: 0x2000, cap: 100)
        #expect(scheduler == SchedulerParams(seqlens: 0x5000, sched: 0x1000, numSplits: 0x2000, extraSeqlens: 0, batch: 3,
                                             numParts: 4, fixed: Int32(SchedulePolicy.standard(rowsPerKVHead: 128).fixedCostBlocks),
                                             slack: Int32(SchedulePolicy.standard(rowsPerKVHead: 1).wholeRequestSlackBlocks),
                                             slackDivisor: Int32(SchedulePolicy.standardSlackDivisor), cap: 100, extraCap: 0))
        let extra = SchedulerParams(lengths: 0x5000, batch: 3, parts: 4, policy: .standard(rowsPerKVHead: 128), tileSchedulerMetadata: 0x1000,
                                    numSplits: 0x2000, cap: 100, extraLengths: 0x6000, extraCap: 7)
        #expect(extra.extraSeqlens == 0x6000 && extra.extraCap == 7)
    }

    /// A MODEL1 problem with an extra cache: its pointers, page stride (bytes), index strides, width,
    /// slots and page size; the main cache's page stride in bytes.
    @Test func aModel1ProblemsExtraCacheParams() throws {
        let b = 2, sQ = 2, hQ = 64, topk = 128
        let main = Self.device(.uint8, [8, 64, 1, 584], 0x10000)
        let extraStorage = TensorStorage.device(ordinal: 0, address: 0x20000)
        let extraCache = TensorView(elementType: .uint8, shape: [5, 2, 1, 584], strides: [1728, 584, 584, 1], storage: extraStorage)
        let sparse = SparseIndices(indices: Self.device(.int32, [b, sQ, topk], 0x4000), topkLength: Self.device(.int32, [b], 0x5000),
                                   extraKCache: extraCache, extraIndices: Self.device(.int32, [b, sQ, 9], 0x11000),
                                   extraTopkLength: Self.device(.int32, [b], 0x12000))
        let problem = try DecodeProblem(
            q: Self.device(.bfloat16, [b, sQ, hQ, 512], 0x3000), kCache: main, sparse: sparse, headDimV: 512,
            metadata: Self.metadata(batch: b, rows: sQ * hQ, kvHeads: 1), softmaxScale: 0.1, kvFormat: .fp8Model1, attnSink: nil,
            out: Self.device(.bfloat16, [b, sQ, hQ, 512], 0x7000), lse: Self.device(.float32, [b, hQ, sQ], 0x8000),
            backend: .cuda(device: 0))
        let params = DecodeParams(problem, accumulators: Self.accumulators, errorFlag: 0)
        #expect(params.kPageStride == 64 * 584 && params.numPages == 8 * 64 && params.maxPages == 128 && params.seqlens == 0x5000)
        #expect(params.extraKcache == 0x20000 && params.extraIndices == 0x11000 && params.extraSeqlens == 0x12000)
        #expect(params.extraPageStride == 1728 && params.extraIndBatchStride == 2 * 9 && params.extraIndSeqStride == 9)
        #expect(params.extraTopk == 9 && params.extraNumSlots == 10 && params.extraPageSize == 2)
    }
}
