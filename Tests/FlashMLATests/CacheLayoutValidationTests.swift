// Tests of the cache-layout argument checks and kernel choice.
import Testing
@testable import FlashMLA

/// The cache checks of the decode call for page sizes and FP8 formats: each names `kCache` (or
/// `kScale`), the expected and the given value, before any work.
@Suite struct CacheLayoutValidationTests {
    /// b 2, s_q 1, h_q 16, h_kv 1, lengths [40, 7] over pages of `pageSize` tokens.
    private func call(kCache: TensorView, format: KVCacheFormat, pageSize: Int, lengths: [Int32] = [40, 7],
                      tableColumns: Int? = nil) throws(MLAError) -> DecodeProblem {
        let columns = tableColumns ?? (40 + pageSize - 1) / pageSize
        let q = Tensor(hostElementType: .bfloat16, shape: [2, 1, 16, 576])
        let table = Tensor((0 ..< 2 * columns).map { Int32($0) }, shape: [2, columns])
        let seqlens = Tensor(lengths, shape: [2])
        let out = Tensor(hostElementType: .bfloat16, shape: [2, 1, 16, 512])
        let lse = Tensor(hostElementType: .float32, shape: [2, 16, 1])
        let metadata = MLAMetadata(shape: MetadataShape(batchSize: 2, rowsPerKVHead: 16, kvHeads: 1, numSMParts: 3),
                                   hostSchedule: TileSchedule(cacheSeqlens: lengths, numSMParts: 3, rowsPerKVHead: 16))
        return try DecodeProblem(q: q.view, kCache: kCache, blockTable: table.view, cacheSeqlens: seqlens.view,
                                 headDimV: 512, metadata: metadata, softmaxScale: nil, causal: true, kvFormat: format,
                                 out: out.view, lse: lse.view, backend: .cpu)
    }

    private func cache(_ type: ElementType, _ shape: [Int]) -> TensorView {
        Tensor(hostElementType: type, shape: shape).view
    }

    @Test func acceptsEveryPageSizeFrom1To256() throws {
        for pageSize in [1, 2, 16, 48, 64, 100, 256] {
            let pages = 2 * ((40 + pageSize - 1) / pageSize)
            let native = try call(kCache: cache(.bfloat16, [pages, pageSize, 1, 576]), format: .native, pageSize: pageSize)
            #expect(native.pageSize == pageSize && native.kvFormat == .native)
            let fp8 = try call(kCache: cache(.float8E4M3, [pages, pageSize, 1, 576]), format: .fp8PerTensor(scale: 0.5),
                               pageSize: pageSize)
            #expect(fp8.kvFormat == .fp8PerTensor(scale: 0.5))
            _ = try call(kCache: cache(.uint8, [pages, pageSize, 1, 656]), format: .fp8DeepSeek, pageSize: pageSize)
            _ = try call(kCache: cache(.float8E4M3, [pages, pageSize, 1, 656]), format: .fp8DeepSeek, pageSize: pageSize)
        }
    }

    @Test func rejectsPageSizesOutsideTheRange() {
        for pageSize in [0, 257] {
            #expect(throws: MLAError.invalidArgument(argument: "kCache", expected: "a page size (dimension 1) in 1...256",
                                                     given: "\(pageSize) in bfloat16[4, \(pageSize), 1, 576]")) {
                _ = try call(kCache: cache(.bfloat16, [4, pageSize, 1, 576]), format: .native, pageSize: 64, tableColumns: 1)
            }
        }
    }

    @Test func lengthsAndBlockIDsCountPagesOfTheCachesSize() throws {
        // Pages of 16: a row of 3 columns holds 48 tokens, so 49 is too long.
        #expect(throws: MLAError.invalidArgument(argument: "cacheSeqlens[0]", expected: "0...48 (blockTable row holds 48 tokens)",
                                                 given: "49")) {
            _ = try call(kCache: cache(.bfloat16, [6, 16, 1, 576]), format: .native, pageSize: 16, lengths: [49, 7], tableColumns: 3)
        }
        // 40 tokens use ⌈40/16⌉ = 3 pages: a cache of 2 pages makes entry [0][2] (= 2) out of range.
        #expect(throws: MLAError.invalidArgument(argument: "blockTable[0][2]", expected: "0..<2 (a page of kCache)", given: "2")) {
            _ = try call(kCache: cache(.bfloat16, [2, 16, 1, 576]), format: .native, pageSize: 16)
        }
    }

    @Test func theCachesTypeMustMatchTheFormat() {
        #expect(throws: MLAError.invalidArgument(argument: "kCache", expected: "bfloat16", given: "float8_e4m3")) {
            _ = try call(kCache: cache(.float8E4M3, [4, 64, 1, 576]), format: .native, pageSize: 64)
        }
        #expect(throws: MLAError.invalidArgument(argument: "kCache", expected: "float8_e4m3", given: "bfloat16")) {
            _ = try call(kCache: cache(.bfloat16, [4, 64, 1, 576]), format: .fp8PerTensor(scale: 1), pageSize: 64)
        }
        #expect(throws: MLAError.invalidArgument(argument: "kCache", expected: "uint8 (or float8_e4m3 bytes) for the fp8-ds format",
                                                 given: "float16")) {
            _ = try call(kCache: cache(.float16, [4, 64, 1, 328]), format: .fp8DeepSeek, pageSize: 64)
        }
    }

    @Test func bytesPerTokenMustMatchTheFormat() {
        #expect(throws: MLAError.invalidArgument(argument: "kCache", expected: "576 elements (576 bytes) a token for the fp8(scale 1.0) format",
                                                 given: "656 bytes in float8_e4m3[4, 64, 1, 656]")) {
            _ = try call(kCache: cache(.float8E4M3, [4, 64, 1, 656]), format: .fp8PerTensor(scale: 1), pageSize: 64)
        }
        #expect(throws: MLAError.invalidArgument(argument: "kCache", expected: "656 elements (656 bytes) a token for the fp8-ds format",
                                                 given: "576 bytes in uint8[4, 64, 1, 576]")) {
            _ = try call(kCache: cache(.uint8, [4, 64, 1, 576]), format: .fp8DeepSeek, pageSize: 64)
        }
    }

    @Test func perTensorScaleMustBeFiniteAndPositive() {
        for scale: Float in [0, -2, .nan, .infinity] {
            #expect(throws: MLAError.invalidArgument(argument: "kScale", expected: "finite and > 0", given: "\(scale)")) {
                _ = try call(kCache: cache(.float8E4M3, [4, 64, 1, 576]), format: .fp8PerTensor(scale: scale), pageSize: 64)
            }
        }
    }

    @Test func deepSeekNeedsOneKVHead() {
        #expect(throws: MLAError.invalidArgument(argument: "kCache", expected: "h_kv = 1 for the fp8-ds format",
                                                 given: "h_kv = 2 in uint8[4, 64, 2, 656]")) {
            _ = try call(kCache: cache(.uint8, [4, 64, 2, 656]), format: .fp8DeepSeek, pageSize: 64)
        }
    }
}

/// Which kernel a cache layout gets on the GPU.
@Suite struct CacheLayoutKernelChoiceTests {
    static let h100 = (major: 9, minor: 0), limit = 232_448

    /// Dense: only 64-token pages in `q`'s type run the dense Hopper kernels. Sparse layouts run
    /// the Hopper sparse kernel unless `sm80` is forced.
    @Test func onlyThe64TokenSixteenBitCacheRunsTheHopperKernels() {
        for cache in PortableCache.allCases {
            for rows in [1, 16, 17, 64, 65, 256] {
                for preference in [DecodeKernel.Preference.automatic, .hopper, .hopperLockstep, .hopperSeesaw, .portable] {
                    let kernel = DecodeKernel.choose(rowsPerKVHead: rows, computeCapability: Self.h100, sharedMemoryLimit: Self.limit,
                                                     preference: preference, cache: cache)
                    if cache == .sparse || cache == .sparseFP8DeepSeek, preference != .portable {
                        #expect(kernel == .hopperSparse(cache, pair: cache == .sparseFP8DeepSeek && rows == 65))
                        continue
                    }
                    guard case let .portable(tile)? = kernel else {
                        #expect(cache == .page64, "\(cache) rows \(rows) \(preference) got \(String(describing: kernel))")
                        continue
                    }
                    #expect(tile.cache == cache && tile.sharedMemoryBytes <= Self.limit)
                }
            }
        }
        #expect(DecodeKernel.choose(rowsPerKVHead: 128, computeCapability: Self.h100, sharedMemoryLimit: Self.limit,
                                    preference: .automatic, cache: .page64) == .hopperSeesaw)
    }

    @Test func formatAndPageSizePickTheReading() {
        #expect(PortableCache(format: .native, pageSize: 64) == .page64)
        for pageSize in [1, 16, 48, 128, 256] { #expect(PortableCache(format: .native, pageSize: pageSize) == .paged) }
        #expect(PortableCache(format: .fp8PerTensor(scale: 2), pageSize: 64) == .fp8)
        #expect(PortableCache(format: .fp8DeepSeek, pageSize: 64) == .fp8DeepSeek)
    }

    @Test func fp8TilesTakeTheMostRawStagesThatFit() {
        // H100/H200: per-tensor 16 rows take 3 raw stages, 64 rows 2; DeepSeek 64 rows only 1.
        #expect(DecodeTile.choose(rowsPerKVHead: 16, sharedMemoryLimit: Self.limit, cache: .fp8) == DecodeTile(rows: 16, stages: 3, cache: .fp8))
        #expect(DecodeTile.choose(rowsPerKVHead: 128, sharedMemoryLimit: Self.limit, cache: .fp8) == DecodeTile(rows: 64, stages: 2, cache: .fp8))
        #expect(DecodeTile.choose(rowsPerKVHead: 128, sharedMemoryLimit: Self.limit, cache: .fp8DeepSeek)
                == DecodeTile(rows: 64, stages: 1, cache: .fp8DeepSeek))
        // H100/H200 and A100 fit every layout; 99 KiB (sm_86, sm_89) fits no FP8 tile (Q, one page and
        // one raw stage need 131,584 bytes), and the choice says so instead of overflowing.
        for limit in [232_448, 166_912, 101_376] {
            for cache in PortableCache.allCases {
                for rows in [1, 16, 32, 64, 128] {
                    let tile = DecodeTile.choose(rowsPerKVHead: rows, sharedMemoryLimit: limit, cache: cache)
                    if cache.isFP8 && limit < 131_584 {
                        #expect(tile == nil, "\(cache) rows \(rows) limit \(limit)")
                    } else {
                        #expect(tile != nil && tile!.sharedMemoryBytes <= limit, "\(cache) rows \(rows) limit \(limit)")
                    }
                }
            }
        }
        #expect(DecodeTile(rows: 16, stages: 1, cache: .fp8).sharedMemoryBytes == 131_584)
        #expect(DecodeTile.choose(rowsPerKVHead: 64, sharedMemoryLimit: 166_912, cache: .fp8) == DecodeTile(rows: 32, stages: 1, cache: .fp8))
    }

    /// Every tile the choice can return names an entry point its unit defines.
    @Test func everyTileNamesAnEntryPointOfItsUnit() throws {
        for cache in PortableCache.allCases {
            let source = try #require(KernelCatalog.sources[cache.unit.rawValue])
            for rows in [16, 32, 64] {
                for stages in cache.stageChoices(rows: rows) {
                    let tile = DecodeTile(rows: rows, stages: stages, cache: cache)
                    for type in [ElementType.bfloat16, .float16] {
                        let suffix = type == .bfloat16 ? "bf16" : "fp16"
                        let name = tile.kernelName(type)
                        let pasted: String
                        switch cache {
                        case .page64: pasted = "flashmla_decode_sm80_##SUFFIX##_m\(rows)_s\(stages), T, \(rows), \(stages))"
                        case .paged: pasted = "flashmla_decode_sm80_paged_##SUFFIX##_m\(rows)_s\(stages), T, \(rows), \(stages))"
                        case .fp8, .fp8DeepSeek:
                            pasted = "flashmla_decode_sm80_##FORMAT##_##SUFFIX##_m\(rows)_s\(stages), T, \(rows), \(stages), KV)"
                        case .sparse:
                            pasted = "flashmla_decode_sm80_sparse_##SUFFIX##_m\(rows)_s\(stages), T, \(rows), \(stages), FMLA_KV_PAGED)"
                        case .sparseFP8DeepSeek:
                            pasted = "flashmla_decode_sm80_sparse_fp8ds_##SUFFIX##_m\(rows)_s\(stages), T, \(rows), \(stages), FMLA_KV_FP8DS)"
                        case .sparseModel1:
                            pasted = "flashmla_decode_sm80_sparse_model1_##SUFFIX##_m\(rows)_s\(stages), T, \(rows), \(stages), FMLA_KV_MODEL1)"
                        }
                        #expect(source.contains(pasted), "\(name) in \(cache.unit.rawValue)")
                        let format = cache == .fp8 ? "fp8" : "fp8ds"
                        if cache.isFP8 && !cache.isSparse {
                            #expect(name == "flashmla_decode_sm80_\(format)_\(suffix)_m\(rows)_s\(stages)")
                            #expect(source.contains("FMLA_DECODE_FP8_ALL(\(suffix), \(suffix), \(format), "))
                        }
                    }
                }
            }
        }
    }
}
