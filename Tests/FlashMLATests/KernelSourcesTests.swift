// Tests of the embedded kernel sources and the decode kernel choice.
import Foundation
import Testing
@testable import FlashMLA
import NVRTC

/// The kernels reach the library through the build plugin; these tests hold the embedded
/// copies equal to the files in Sources/FlashMLA/Kernels.
@Suite struct KernelSourcesTests {
    static let kernelsFolder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/FlashMLA/Kernels")

    @Test func embeddedSourcesEqualTheFiles() throws {
        let root = Self.kernelsFolder.standardizedFileURL.path
        var onDisk: [String: String] = [:]
        let walker = try #require(FileManager.default.enumerator(atPath: root))
        for case let path as String in walker where path.hasSuffix(".cu") || path.hasSuffix(".cuh") {
            onDisk[path] = try String(contentsOfFile: root + "/" + path, encoding: .utf8)
        }
        #expect(!onDisk.isEmpty)
        #expect(Set(KernelCatalog.sources.keys) == Set(onDisk.keys))
        for (name, text) in onDisk {
            #expect(KernelCatalog.sources[name] == text, "embedded \(name) differs from the file")
        }
    }

    @Test func everyUnitIsEmbeddedWithItsHeaders() {
        for unit in KernelCatalog.Unit.allCases {
            let request = KernelCatalog.request(for: unit, architecture: "sm_90a")
            #expect(request.sources[unit.rawValue] != nil, "\(unit.rawValue) is not embedded")
            #expect(request.sources.keys.filter { $0.hasSuffix(".cu") } == [unit.rawValue])
            #expect(request.sources.keys.contains("common/types.cuh"))
        }
    }

    /// `FLASHMLA_KERNEL_OPTIONS` splits on spaces into separate NVRTC options; unset is none.
    @Test func kernelOptionsSplitOnSpaces() {
        #expect(KernelCatalog.extraOptions(environment: nil) == [])
        #expect(KernelCatalog.extraOptions(environment: "") == [])
        #expect(KernelCatalog.extraOptions(environment: "-DFMLA_FP8_SOFT_CVT=1") == ["-DFMLA_FP8_SOFT_CVT=1"])
        #expect(KernelCatalog.extraOptions(environment: "-DA=1  -DB=2 ") == ["-DA=1", "-DB=2"])
    }

    /// A request carries the options it is given after its own, so they reach NVRTC and the
    /// cache key; without FLASHMLA_KERNEL_OPTIONS set, the default adds none.
    @Test func requestsCarryExtraOptions() {
        let plain = KernelCatalog.request(for: .combine, architecture: "sm_90a", options: [])
        let variant = KernelCatalog.request(for: .combine, architecture: "sm_90a", options: ["-DFMLA_FP8_SOFT_CVT=1"])
        #expect(variant.options == plain.options + ["-DFMLA_FP8_SOFT_CVT=1"])
        let cache = CompileCache(directory: URL(fileURLWithPath: "/nonexistent"), packageVersion: "test")
        #expect(cache.key(for: variant, compilerIdentity: "nvrtc") != cache.key(for: plain, compilerIdentity: "nvrtc"))
        if getenv("FLASHMLA_KERNEL_OPTIONS") == nil {
            #expect(KernelCatalog.request(for: .combine, architecture: "sm_90a") == plain)
        }
    }

    /// The combine kernel finds a block's rows from the rows per block the host launches with,
    /// and the host launches as many threads as the kernel's warps need.
    @Test func combineBlockEqualsTheKernels() throws {
        let defines = KernelSourceParsing.flattened(try #require(KernelCatalog.sources["combine.cu"]))
            .split(separator: "\n").map { $0.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        #expect(defines.contains("#define FMLA_COMBINE_ROWS \(CUDABackend.combineRowsPerBlock)"))
        #expect(defines.contains("#define FMLA_COMBINE_THREADS (32 * FMLA_COMBINE_ROWS)"))
        #expect(CUDABackend.combineThreads == 32 * CUDABackend.combineRowsPerBlock)
    }

    /// With programmatic dependent launch a kernel may start before the one ahead of it on the
    /// stream has finished: each decode kernel must wait before it reads the schedule (and so
    /// anything the caller's previous kernel wrote), and the combine before it reads a partial.
    /// A lint on the source text (the first wait against the first such read), not a proof that
    /// no other read comes earlier; compute-sanitizer and `check` on the GPU test the rest.
    @Test func programmaticLaunchWaitsBeforeReading() throws {
        let sources = KernelCatalog.sources
        let types = try #require(sources["common/types.cuh"])
        #expect(types.contains("griddepcontrol.wait;"))
        #expect(types.contains("griddepcontrol.launch_dependents;"))
        func offset(of needle: String, in text: String) -> Int? {
            text.range(of: needle).map { text.distance(from: text.startIndex, to: $0.lowerBound) }
        }
        for name in ["sm80/decode.cuh", "sm90/decode_lockstep.cu", "sm90/decode_seesaw.cu"] {
            let text = try #require(sources[name])
            let wait = try #require(offset(of: "grid_dependency_wait();", in: text), "\(name) never waits")
            // The schedule is read whole (load_part) or a field at a time (sched_field).
            let reads = ["load_part(sched", "sched_field(sched", "load_part(params.sched", "sched_field(params.sched"]
            let read = try #require(reads.compactMap { offset(of: $0, in: text) }.min())
            #expect(wait < read, "\(name) reads the schedule before it waits")
            // The Hopper kernels let the combine start through tile.cuh's begin_next_piece.
            let early = name.hasPrefix("sm90/") ? "begin_next_piece(" : "launch_dependents();"
            #expect(text.contains(early), "\(name) never lets the combine start early")
        }
        let tile = try #require(sources["sm90/tile.cuh"])
        let next = try #require(offset(of: "void begin_next_piece(", in: tile))
        #expect(tile[tile.index(tile.startIndex, offsetBy: next)...].contains("launch_dependents();"))
        let combine = try #require(sources["combine.cu"])
        let wait = try #require(offset(of: "grid_dependency_wait();", in: combine))
        let firstPartial = try #require(offset(of: "lseaccum[(first", in: combine))
        #expect(wait < firstPartial, "combine.cu reads a partial before it waits")
        #expect(!combine.contains("__restrict__ lseaccum") && !combine.contains("__restrict__ oaccum"),
                "partials written while the combine is resident must not take the read-only path")
    }

    @Test func tileChoiceFitsTheSharedMemory() {
        // H100 (227 KiB), A100 (163 KiB), sm_86 (99 KiB): the chosen tile always fits.
        for limit in [232_448, 166_912, 101_376] {
            for rows in [1, 16, 17, 32, 33, 64, 128, 256] {
                let tile = DecodeTile.choose(rowsPerKVHead: rows, sharedMemoryLimit: limit)
                #expect(tile != nil)
                if let tile { #expect(tile.sharedMemoryBytes <= limit) }
            }
        }
        #expect(DecodeTile.choose(rowsPerKVHead: 128, sharedMemoryLimit: 232_448) == DecodeTile(rows: 64, stages: 2))
        #expect(DecodeTile.choose(rowsPerKVHead: 8, sharedMemoryLimit: 232_448) == DecodeTile(rows: 16, stages: 2))
        #expect(DecodeTile.choose(rowsPerKVHead: 20, sharedMemoryLimit: 49_152) == nil)
    }
}

/// Which decode kernel the CUDA backend picks.
@Suite struct DecodeKernelChoiceTests {
    @Test func sm90SplitsRowCountsBetweenTheThreeKernels() {
        let h100 = (major: 9, minor: 0), limit = 232_448
        func auto(_ rows: Int) -> DecodeKernel? {
            DecodeKernel.choose(rowsPerKVHead: rows, computeCapability: h100, sharedMemoryLimit: limit, preference: .automatic)
        }
        #expect(auto(1) == .hopperLockstep)
        #expect(auto(16) == .hopperLockstep)
        #expect(auto(17) == .hopperLockstep)
        #expect(auto(64) == .hopperLockstep)
        #expect(auto(65) == .hopperSeesaw)
        #expect(auto(256) == .hopperSeesaw)
        #expect(DecodeKernel.choose(rowsPerKVHead: 256, computeCapability: h100, sharedMemoryLimit: limit, preference: .portable)
                == .portable(DecodeTile(rows: 64, stages: 2)))
        // Forced: `sm90` picks a Hopper kernel by rows even below 17; the named ones take any count.
        #expect(DecodeKernel.choose(rowsPerKVHead: 1, computeCapability: h100, sharedMemoryLimit: limit, preference: .hopper) == .hopperLockstep)
        #expect(DecodeKernel.choose(rowsPerKVHead: 128, computeCapability: h100, sharedMemoryLimit: limit, preference: .hopper) == .hopperSeesaw)
        #expect(DecodeKernel.choose(rowsPerKVHead: 1, computeCapability: h100, sharedMemoryLimit: limit, preference: .hopperSeesaw) == .hopperSeesaw)
        #expect(DecodeKernel.choose(rowsPerKVHead: 256, computeCapability: h100, sharedMemoryLimit: limit, preference: .hopperLockstep) == .hopperLockstep)
    }

    /// A device's table changes the automatic choice where it covers the row count, and only there.
    @Test func aTableOverridesTheRuleWhereItHasAnEntry() throws {
        let hopper = (major: 9, minor: 0), limit = 232_448
        let h100 = try #require(DecodeKernelTable.shipped.first { $0.deviceName == "NVIDIA H100 80GB HBM3" })
        func auto(_ rows: Int, _ table: DecodeKernelTable?, limit: Int = limit) -> DecodeKernel? {
            DecodeKernel.choose(rowsPerKVHead: rows, computeCapability: hopper, sharedMemoryLimit: limit, preference: .automatic, table: table)
        }
        #expect(auto(16, h100) == .portable(DecodeTile(rows: 16, stages: 2)))
        #expect(auto(17, h100) == .hopperLockstep)
        #expect(auto(128, h100) == .hopperSeesaw)
        let odd = DecodeKernelTable(deviceName: "x", multiprocessors: 1, computeCapability: "9.0", source: "test",
                                    entries: [.init(maxRowsPerKVHead: 128, kernel: "sm90-lockstep"), .init(maxRowsPerKVHead: 32, kernel: "sm90-seesaw")])
        #expect(auto(32, odd) == .hopperSeesaw)        // entries are sorted by bound
        #expect(auto(100, odd) == .hopperLockstep)
        #expect(auto(200, odd) == .hopperSeesaw)       // past the last entry: the rule
        // A table naming a kernel that does not fit the device, or an unknown name, falls back to the rule.
        #expect(auto(100, odd, limit: 101_376) == DecodeTile.choose(rowsPerKVHead: 100, sharedMemoryLimit: 101_376).map { .portable($0) })
        let unknown = DecodeKernelTable(deviceName: "x", multiprocessors: 1, computeCapability: "9.0", source: "test",
                                        entries: [.init(maxRowsPerKVHead: 64, kernel: "sm99")])
        #expect(auto(16, unknown) == .hopperLockstep)
        // Off Hopper a table cannot pick a Hopper kernel.
        #expect(DecodeKernel.choose(rowsPerKVHead: 16, computeCapability: (8, 0), sharedMemoryLimit: 166_912,
                                    preference: .automatic, table: odd) == DecodeTile.choose(rowsPerKVHead: 16, sharedMemoryLimit: 166_912).map { .portable($0) })
        // FLASHMLA_KERNEL still wins over the table.
        #expect(DecodeKernel.choose(rowsPerKVHead: 16, computeCapability: hopper, sharedMemoryLimit: limit,
                                    preference: .hopperSeesaw, table: h100) == .hopperSeesaw)
    }

    /// Every kernel the backend may pick is defined, under the name it launches, in the unit it loads.
    @Test func eachKernelNamesAnEntryPointOfItsUnit() throws {
        let kernels: [DecodeKernel] = [.hopperLockstep, .hopperSeesaw, .hopperSparse(.sparse), .hopperSparse(.sparseFP8DeepSeek),
                                       .hopperSparse(.sparseFP8DeepSeek, pair: true)]
            + [16, 32, 64].flatMap { rows in [1, 2].map { .portable(DecodeTile(rows: rows, stages: $0)) } }
        for kernel in kernels {
            let source = try #require(KernelCatalog.sources[kernel.unit.rawValue])
            for type in [ElementType.bfloat16, .float16] {
                let name = kernel.functionName(type)
                switch kernel {
                case .hopperLockstep, .hopperSeesaw:
                    #expect(source.contains("FMLA_DECODE_SM90(\(name),"), "\(name) in \(kernel.unit.rawValue)")
                case .hopperSparse:
                    #expect(source.contains("FMLA_DECODE_SM90_SPARSE(\(name),"), "\(name) in \(kernel.unit.rawValue)")
                case let .portable(tile):
                    // sm80/decode.cu pastes its names together from a suffix per type and the tile.
                    let suffix = type == .bfloat16 ? "bf16" : "fp16"
                    #expect(name == "flashmla_decode_sm80_\(suffix)_m\(tile.rows)_s\(tile.stages)")
                    #expect(source.contains("FMLA_DECODE(flashmla_decode_sm80_##SUFFIX##_m\(tile.rows)_s\(tile.stages), T, \(tile.rows), \(tile.stages))"))
                    #expect(source.contains("FMLA_DECODE_ALL(\(suffix), \(suffix))"))
                }
            }
        }
    }

    /// The name `flashmla bench` reports for a kernel is the `FLASHMLA_KERNEL` value that forces
    /// that kernel, whatever the row count.
    @Test func aKernelsNameForcesThatKernel() throws {
        let h100 = (major: 9, minor: 0), limit = 232_448
        for rows in [1, 16, 17, 64, 65, 256] {
            let chosen = try #require(DecodeKernel.choose(rowsPerKVHead: rows, computeCapability: h100, sharedMemoryLimit: limit,
                                                          preference: .automatic))
            for name in ["sm80", "sm90-lockstep", "sm90-seesaw"] {
                let forced = try #require(DecodeKernel.choose(rowsPerKVHead: rows, computeCapability: h100, sharedMemoryLimit: limit,
                                                              preference: try DecodeKernel.Preference(environment: name)))
                #expect(forced.name == name, "rows \(rows), FLASHMLA_KERNEL=\(name)")
            }
            #expect(chosen.name == (rows <= 64 ? "sm90-lockstep" : "sm90-seesaw"))
        }
    }

    /// Sparse decoding: the Hopper sparse kernel on sm_90 whatever the rows, unless `sm80` is forced
    /// or the device's shared memory is short; the portable sparse kernel elsewhere. FP8 tokens and
    /// 65–128 heads (a query token's two tiles) run the pair kernel, nothing else does.
    @Test func sparseDecodingRunsTheHopperSparseKernelOnSm90() throws {
        let h100 = (major: 9, minor: 0), limit = 232_448
        for cache in [PortableCache.sparse, .sparseFP8DeepSeek] {
            for rows in [16, 64, 65, 96, 128, 129, 256] {
                let pair = cache == .sparseFP8DeepSeek && (65...128).contains(rows)
                for preference in [DecodeKernel.Preference.automatic, .hopper, .hopperLockstep, .hopperSeesaw] {
                    let chosen = DecodeKernel.choose(rowsPerKVHead: rows, computeCapability: h100, sharedMemoryLimit: limit,
                                                     preference: preference, cache: cache)
                    #expect(chosen == .hopperSparse(cache, pair: pair), "\(cache) rows \(rows)")
                    #expect(chosen?.name == (pair ? "sm90-sparse-pair" : "sm90-sparse"))
                }
                let forced = try #require(DecodeKernel.choose(rowsPerKVHead: rows, computeCapability: h100, sharedMemoryLimit: limit,
                                                              preference: .portable, cache: cache))
                #expect(forced.name == "sm80")
                let short = try #require(DecodeKernel.choose(rowsPerKVHead: rows, computeCapability: h100,
                                                             sharedMemoryLimit: DecodeSharedMemory.hopperSparse - 1,
                                                             preference: .automatic, cache: cache))
                #expect(short.name == "sm80")
                let ampere = try #require(DecodeKernel.choose(rowsPerKVHead: rows, computeCapability: (8, 0), sharedMemoryLimit: 166_912,
                                                              preference: .automatic, cache: cache))
                #expect(ampere.name == "sm80")
            }
        }
        let model1 = try #require(DecodeKernel.choose(rowsPerKVHead: 64, computeCapability: h100, sharedMemoryLimit: limit,
                                                      preference: .automatic, cache: .sparseModel1))
        #expect(model1.name == "sm80")                                   // no Hopper MODEL1 kernel yet
        #expect(DecodeKernel.hopperSparse(.sparseFP8DeepSeek).functionName(.bfloat16) == "flashmla_decode_sm90_sparse_fp8ds_bf16")
        #expect(DecodeKernel.hopperSparse(.sparse).functionName(.float16) == "flashmla_decode_sm90_sparse_fp16")
        #expect(DecodeKernel.hopperSparse(.sparseFP8DeepSeek, pair: true).functionName(.float16) == "flashmla_decode_sm90_sparse_fp8ds_pair_fp16")
    }

    @Test func bothHopperKernelsFitAnH100() {
        #expect(DecodeKernel.hopperLockstep.sharedMemoryBytes <= 232_448)
        #expect(DecodeKernel.hopperSeesaw.sharedMemoryBytes <= 232_448)
    }

    @Test func otherArchitecturesNeverGetAHopperKernel() {
        for capability in [(major: 8, minor: 0), (major: 8, minor: 9), (major: 10, minor: 0)] {
            for preference in [DecodeKernel.Preference.hopper, .hopperLockstep, .hopperSeesaw, .automatic] {
                let kernel = DecodeKernel.choose(rowsPerKVHead: 128, computeCapability: capability,
                                                 sharedMemoryLimit: 232_448, preference: preference)
                #expect(kernel == .portable(DecodeTile(rows: 64, stages: 2)))
            }
        }
        // Too little shared memory for a Hopper kernel's two pages and Q.
        #expect(DecodeKernel.choose(rowsPerKVHead: 128, computeCapability: (major: 9, minor: 0),
                                    sharedMemoryLimit: 166_912, preference: .automatic) == .portable(DecodeTile(rows: 64, stages: 1)))
    }

    @Test func preferenceComesFromTheEnvironmentValue() throws {
        #expect(try DecodeKernel.Preference(environment: "sm80") == .portable)
        #expect(try DecodeKernel.Preference(environment: "sm90") == .hopper)
        #expect(try DecodeKernel.Preference(environment: "sm90-lockstep") == .hopperLockstep)
        #expect(try DecodeKernel.Preference(environment: "sm90-seesaw") == .hopperSeesaw)
        #expect(try DecodeKernel.Preference(environment: nil) == .automatic)
        #expect(try DecodeKernel.Preference(environment: "") == .automatic)
    }

    @Test func anUnknownKernelNameIsAnErrorNamingTheVariable() {
        #expect(throws: MLAError.invalidArgument(argument: "FLASHMLA_KERNEL", expected: DecodeKernel.Preference.environmentValues,
                                                 given: "\"sm90-seesw\"")) {
            try DecodeKernel.Preference(environment: "sm90-seesw")
        }
    }

    @Test func programmaticLaunchNeedsSM90AndCanBeTurnedOff() {
        #expect(!CUDABackend.programmaticLaunch(computeCapabilityMajor: 8, environment: nil))
        #expect(CUDABackend.programmaticLaunch(computeCapabilityMajor: 9, environment: nil))
        #expect(CUDABackend.programmaticLaunch(computeCapabilityMajor: 10, environment: "1"))
        #expect(!CUDABackend.programmaticLaunch(computeCapabilityMajor: 9, environment: "0"))
    }

    /// `FLASHMLA_SCHEDULE`: the kernel table's schedule numbers unless `standard`; anything else
    /// is an error naming the variable.
    @Test func theScheduleVariableTakesTableOrStandard() throws {
        #expect(try CUDABackend.tableSchedule(environment: nil))
        #expect(try CUDABackend.tableSchedule(environment: "table"))
        #expect(try !CUDABackend.tableSchedule(environment: "standard"))
        #expect(throws: MLAError.invalidArgument(argument: "FLASHMLA_SCHEDULE", expected: "table or standard", given: "\"fast\"")) {
            try CUDABackend.tableSchedule(environment: "fast")
        }
    }

    @Test func onlySM90aCompilesTheHopperUnits() {
        for unit in ["sm90/decode_lockstep.cu", "sm90/decode_seesaw.cu"] {
            #expect(KernelCatalog.requests(architecture: "sm_90a").map(\.mainFile).contains(unit))
            #expect(!KernelCatalog.requests(architecture: "sm_80").map(\.mainFile).contains(unit))
            #expect(!KernelCatalog.requests(architecture: "sm_100a").map(\.mainFile).contains(unit))
        }
    }
}
