// BenchCommand: `flashmla bench`, and the inputs it times.
import ArgumentParser
import Dispatch
import FlashMLA
import FlashMLATesting
import Foundation

/// `flashmla bench`: times the decode call over a grid of configurations, as FlashMLA's
/// benchmark does, and reports time, TFLOP/s and GB/s per configuration.
struct BenchCommand: InputCheckedCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the decode call over a grid of configurations.",
        discussion: """
            Each configuration gets inputs built like FlashMLA's benchmark (random q and cache, a \
            shuffled block table, NaN in every cache slot past a sequence's end), one \
            getMLAMetadata call, then timed flashMLAWithKVCache calls into preallocated outputs. \
            On CUDA each timed call follows a 256 MiB memset that flushes the L2 cache and is \
            timed with events (median of --iterations); on the CPU the median wall-clock time of \
            a few calls is reported. A configuration with topk is a DeepSeek-V3.2 sparse decode: \
            each query token attends to topk distinct random tokens of its request (index lists, \
            NaN in every cache slot no counted entry reaches), counted with FlashMLA's FLOPs and the \
            distinct tokens' bytes. One JSON line per configuration goes to standard output, \
            then a table (unless --json); progress goes to standard error.
            """
    )

    /// Which backend the bench runs on.
    enum BackendChoice: String, CaseIterable, ExpressibleByArgument {
        case cpu, cuda, auto
    }

    @Option(help: "A JSON grid file ({\"name\", \"dtype\", \"configs\": [{\"b\", \"s_q\", \"mean_sk\", \"h_q\", \"h_kv\", \"topk\", \"kv_format\", …}]}) or a built-in grid's name (\(BenchGrid.presets.map(\.name).joined(separator: ", "))); default: built-in-small.")
    var grid: String?

    @Option(help: "The backend: cpu, cuda or auto (CUDA when usable).")
    var backend: BackendChoice = .auto

    @Option(help: "The CUDA device ordinal.")
    var device: Int = 0

    @Flag(help: "Print only the JSON lines on standard output (no table).")
    var json = false

    @Option(help: "The input type, bf16 or fp16 (default: the grid's).")
    var dtype: BenchDType?

    @Option(help: "Run only configurations matching key=value,… (keys: \(ConfigFilter.keys.joined(separator: ", "))); repeat a key or use | for alternatives. Repeated, every --only's terms apply together (--only b=128 --only s_q=1 is --only b=128,s_q=1).")
    var only: [String] = []

    @Option(help: "Timed calls per configuration (default: 100 on CUDA, 3 on the CPU).")
    var iterations: Int?

    @Option(name: .customLong("warmup-ms"), help: "Warm-up time per configuration on CUDA, in milliseconds (0…60000).")
    var warmupMilliseconds: Double = 25

    @Option(help: "Seed of the random inputs.")
    var seed: UInt64 = 0

    @Option(name: .customLong("kv-format"), help: "The cache format of configurations without kv_format: native, fp8 (per-tensor E4M3) or fp8-ds (DeepSeek-V3.2, 656 bytes a token; h_kv must be 1).")
    var kvFormat: KVFormatChoice = .native

    @Option(name: .customLong("page-size"), help: "Tokens a cache page, 1…256 (default 64, FlashMLA's layout).")
    var pageSize: Int = TileSchedule.blockSize

    @Option(name: .customLong("memory-limit-gib"),
            help: "Most GiB of tensors one configuration may need; larger ones are refused before anything is allocated.")
    var memoryLimitGiB: Int = MemoryEstimate.defaultLimitGiB

    @Option(help: "Write an SVG chart of the run: per configuration our time, FlashMLA's (with --compare) and the floor.")
    var chart: String?

    @Option(help: "FlashMLA's JSON lines for the same grid (bench_grid.py's output), drawn beside ours in --chart.")
    var compare: String?

    @Option(name: .customLong("copy-gbps"), help: "The copy rate of the chart's floor, GB/s (default: an H200's).")
    var copyGBps: Double = BenchChart.Rates.h200.copyGBps

    @Option(name: .customLong("gemm-tflops"), help: "The GEMM rate of the chart's floor, TFLOPS (default: an H200's).")
    var gemmTFLOPS: Double = BenchChart.Rates.h200.gemmTFLOPS

    /// The most timed calls per configuration (each holds two CUDA events).
    static let maxIterations = 100_000
    /// The longest warm-up, in milliseconds.
    static let maxWarmupMilliseconds = 60_000.0

    /// Every flag's value checked.
    /// - Throws: ``UsageError`` naming the first bad flag, what it must be and what it is.
    func checkInputs() throws(UsageError) {
        if let iterations, !(1...Self.maxIterations).contains(iterations) {
            throw UsageError("--iterations", expected: "1…\(Self.maxIterations)", given: "\(iterations)")
        }
        guard (0...Self.maxWarmupMilliseconds).contains(warmupMilliseconds) else {
            throw UsageError("--warmup-ms", expected: "0…\(Int(Self.maxWarmupMilliseconds))", given: "\(warmupMilliseconds)")
        }
        guard (0...Int(Int32.max)).contains(device) else {
            throw UsageError("--device", expected: "a device ordinal, 0 or more", given: "\(device)")
        }
        try MemoryLimit.validate(memoryLimitGiB)
        guard (1...KVCacheFormat.maxPageSize).contains(pageSize) else {
            throw UsageError("--page-size", expected: "1…\(KVCacheFormat.maxPageSize)", given: "\(pageSize)")
        }
        for (flag, rate) in [("--copy-gbps", copyGBps), ("--gemm-tflops", gemmTFLOPS)] where !(rate.isFinite && rate > 0) {
            throw UsageError(flag, expected: "a positive rate", given: "\(rate)")
        }
        if compare != nil, chart == nil {
            throw UsageError("--compare", expected: "--chart FILE.svg beside it (the comparison is drawn there)", given: "no --chart")
        }
        if let chart { try ChartFile.validate(path: chart) }
    }

    /// The grid's configurations this run times, every field and size checked (nothing allocated).
    /// - Throws: ``UsageError`` (or `ValidationError` for a malformed `--only`).
    func plan() throws -> GridPlan {
        let benchGrid = try grid.map { name throws(UsageError) in try BenchGrid.named(name) } ?? .builtIn
        let type = dtype ?? benchGrid.dtype
        return try GridPlan(grid: benchGrid, source: grid ?? "built-in grid", only: only, layout: .bench,
                            elementBytes: type.elementType.byteCount,
                            memoryLimitBytes: MemoryEstimate.bytes(gib: memoryLimitGiB)!,
                            kvFormat: kvFormat, pageSize: pageSize,
                            lengthSeed: { seed &+ UInt64($0) &* 0x2545_F491_4F6C_DD1D })
    }

    func run() throws {
        let plan = try plan()
        let baseline = try compare.map { path throws(UsageError) in try FlashMLABaseline.load(path: path) }
        let benchGrid = plan.grid
        let selected: Backend
        switch backend {
        case .cpu: selected = .cpu
        case .cuda: selected = .cuda(device: device)
        case .auto: selected = Backend.automatic() == .cpu ? .cpu : .cuda(device: device)
        }
        let engine = try MLAEngine(backend: selected)
        if grid == nil, selected == .cpu {
            StandardError.line(backend == .auto ? "no GPU: running the CPU backend on the small built-in grid"
                                                : "running the CPU backend on the small built-in grid")
        }

        let type = dtype ?? benchGrid.dtype
        let runs = iterations ?? (selected == .cpu ? 3 : 100)
        let timer = try engine.cudaBackend.map { try CUDABenchTimer(backend: $0) }
        let deviceName = engine.cudaBackend?.device.name ?? HostInfo.cpuModelName()
        let backendName = selected == .cpu ? "cpu" : "cuda"
        let count = plan.entries.count
        StandardError.line("\(benchGrid.name): \(count) configuration(s), \(type.rawValue), backend \(selected) (\(deviceName)), \(runs) timed call(s) each")

        let progress = ProgressLine()
        let rates = BenchChart.Rates(copyGBps: copyGBps, gemmTFLOPS: gemmTFLOPS)
        var results: [BenchResult] = []
        for (position, entry) in plan.entries.enumerated() {
            let config = entry.config
            let tag = "[\(position + 1)/\(count)] \(config.summary)"
            let measurement = Measurement(engine: engine, timer: timer, iterations: runs, warmupMilliseconds: warmupMilliseconds,
                                  tag: tag, progress: progress)
            let inputSeed = seed ^ (UInt64(entry.index + 1) &* 0x9E37_79B9_7F4A_7C15)
            let format = config.kvFormat ?? kvFormat
            let layout = (format == .native ? "" : "+\(format.rawValue)") + (pageSize == TileSchedule.blockSize ? "" : "+p\(pageSize)")
            var result: BenchResult
            if config.topk != nil {
                let (milliseconds, figures) = try measurement.time { () throws -> (BenchCall, SparseFigures) in
                    let operands = try SparseBenchOperands(config: config, cacheSeqlens: entry.lengths, elementType: type.elementType,
                                                           seed: inputSeed, engine: engine, pageSize: pageSize, kvFormat: format)
                    return (try operands.call(engine: engine), operands.figures)
                }
                let kernel = (engine.cudaBackend.map {
                    $0.decodeKernelName(rowsPerKVHead: config.hQ, kvFormat: format.format(scale: 1), pageSize: pageSize, sparse: true) ?? "none"
                } ?? "cpu") + "+sparse" + layout
                result = BenchResult(config: config, backend: backendName, kernel: kernel, device: deviceName, dtype: type,
                                     totalSeqlens: entry.lengths.reduce(0) { $0 + Int($1) }, milliseconds: milliseconds)
                result.sparse = figures
                result.floorRates = rates
            } else {
                let (milliseconds, _) = try measurement.time { () throws -> (BenchCall, Void) in
                    let operands = try BenchOperands(config: config, cacheSeqlens: entry.lengths, elementType: type.elementType,
                                                     seed: inputSeed, engine: engine, pageSize: pageSize, kvFormat: format)
                    return (try operands.call(engine: engine, config: config), ())
                }
                let kernel = (engine.cudaBackend.map {
                    $0.decodeKernelName(rowsPerKVHead: config.rowsPerKVHead, kvFormat: format.format(scale: 1), pageSize: pageSize) ?? "none"
                } ?? "cpu") + layout
                result = BenchResult(config: config, backend: backendName, kernel: kernel, device: deviceName, dtype: type,
                                     totalSeqlens: entry.lengths.reduce(0) { $0 + Int($1) }, milliseconds: milliseconds)
            }
            progress.note("\(tag): \(JSONText.number(result.milliseconds, decimals: 4)) ms, "
                + "\(JSONText.rate(result.teraflops)) TFLOPS, \(JSONText.rate(result.gigabytesPerSecond)) GB/s")
            print(result.jsonLine)
            fflush(nil)  // all output streams: stdout without touching the global
            results.append(result)
        }
        progress.finish()
        if !json, !results.isEmpty {
            print("")
            print(BenchTable.render(results, gridName: benchGrid.name), terminator: "")
        }
        if let chart {
            let svg = BenchChart(results: results, baseline: baseline, rates: rates,
                                 title: "\(benchGrid.name) · \(type.rawValue) · \(deviceName)").svg
            do {
                try Data(svg.utf8).write(to: URL(fileURLWithPath: chart), options: .atomic)
            } catch {
                throw BenchError("cannot write the chart \(chart): \(error.localizedDescription)")
            }
            StandardError.line("chart: \(chart)")
        }
    }

}

/// One configuration's decode call, ready to time: it queues the call (into preallocated
/// outputs); ``warnings`` reads what the last call left.
struct BenchCall {
    /// Queues one decode call.
    var run: () throws -> Void
    /// Problems with the last call's results (``BenchOutputs/warnings(out:lse:engine:)``).
    var warnings: () throws -> [String]
    /// Bytes of the inputs, for the progress line.
    var inputBytes: Int
}

/// How `bench` times one configuration: build its inputs, then the median time of its call.
struct Measurement {
    let engine: MLAEngine
    let timer: CUDABenchTimer?
    let iterations: Int
    let warmupMilliseconds: Double
    let tag: String
    let progress: ProgressLine

    /// Builds the inputs (`build` returns the call and what else the caller keeps), times
    /// `iterations` calls (CUDA events after an L2 flush each, or wall-clock time on the CPU)
    /// and returns the median in milliseconds. Every tensor is released on return.
    func time<Extra>(_ build: () throws -> (BenchCall, Extra)) throws -> (Double, Extra) {
        let clock = ContinuousClock()
        let started = clock.now
        progress.start("\(tag): building inputs")
        let (call, extra) = try build()
        progress.note("\(tag): inputs \(ByteText.format(call.inputBytes)) ready in "
            + String(format: "%.2f s", WallClockTimer.milliseconds(clock.now - started) / 1000))
        progress.start("\(tag): timing \(iterations) call(s)")
        let times: [Double]
        if let timer {
            times = try timer.measure(warmupMilliseconds: warmupMilliseconds, iterations: iterations, call.run)
        } else {
            times = try WallClockTimer.measure(iterations: iterations, call.run)
        }
        for warning in try call.warnings() { progress.note("\(tag): warning: \(warning)") }
        guard let median = BenchMath.median(times) else { throw BenchError("no timed calls") }
        return (median, extra)
    }
}

/// The tensors of one benchmark call, in the engine's memory: the inputs and preallocated
/// `out` and `lse`. On CUDA the host copies are dropped once uploaded.
struct BenchOperands {
    let q: Tensor
    let kCache: Tensor
    let blockTable: Tensor
    let cacheSeqlens: Tensor
    let out: Tensor
    let lse: Tensor
    /// How `kCache` stores a token.
    let kvFormat: KVCacheFormat
    /// Bytes of the four inputs.
    let inputBytes: Int

    /// FlashMLA's inputs (``BenchInputs``), or with another page size or format the cache and
    /// block table of ``BenchCacheLayout``.
    init(config: BenchConfig, cacheSeqlens lengths: [Int32], elementType: ElementType, seed: UInt64,
         engine: MLAEngine, pageSize: Int = TileSchedule.blockSize, kvFormat format: KVFormatChoice = .native) throws {
        var host = BenchInputs(config: config, cacheSeqlens: lengths, elementType: elementType, seed: seed)
        kvFormat = format.format(scale: 1.0 / 64)
        if pageSize != TileSchedule.blockSize || format != .native {
            let layout = BenchCacheLayout(lengths: lengths, kvHeads: config.hKV, pageSize: pageSize, format: format,
                                          elementType: elementType, seed: seed ^ 0x1A40)
            host.kCache = layout.kCache
            host.blockTable = layout.blockTable
        }
        inputBytes = [host.q, host.kCache, host.blockTable, host.cacheSeqlens]
            .reduce(0) { $0 + $1.view.elementCount * $1.elementType.byteCount }
        let outShape = [config.b, config.sQ, config.hQ, config.dv], lseShape = [config.b, config.hQ, config.sQ]
        let memory = EngineMemory(engine)
        q = try memory.place(host.q)
        kCache = try memory.place(host.kCache)
        blockTable = try memory.place(host.blockTable)
        cacheSeqlens = try memory.place(host.cacheSeqlens)
        out = try memory.allocate(elementType, outShape)
        lse = try memory.allocate(.float32, lseShape)
    }

    /// The call into `out` and `lse`, with the metadata computed once.
    func call(engine: MLAEngine, config: BenchConfig) throws -> BenchCall {
        let metadata = try engine.getMLAMetadata(cacheSeqlens: cacheSeqlens.view, rowsPerKVHead: config.rowsPerKVHead,
                                                 kvHeads: config.hKV)
        return BenchCall(run: {
            try engine.flashMLAWithKVCache(
                q: q.view, kCache: kCache.view, blockTable: blockTable.view, cacheSeqlens: cacheSeqlens.view,
                headDimV: config.dv, metadata: metadata, causal: config.causal, kvFormat: kvFormat,
                out: out.view, lse: lse.view)
        }, warnings: { try BenchOutputs.warnings(out: out, lse: lse, engine: engine) }, inputBytes: inputBytes)
    }
}

/// The outputs of a benchmark call.
enum BenchOutputs {
    /// Problems with the last call's results: NaN in `out` or `lse` (a kernel read a NaN slot
    /// past a sequence's end, or one no index reaches), and on CUDA the errors the kernels flagged.
    static func warnings(out: Tensor, lse: Tensor, engine: MLAEngine) throws -> [String] {
        var warnings: [String] = []
        let hostOut: Tensor, hostLse: Tensor
        if let cuda = engine.cudaBackend {
            hostOut = try cuda.download(out.view)
            hostLse = try cuda.download(lse.view)
            warnings += try cuda.workspace.takeErrors().map { "kernel error flag: \($0)" }
        } else {
            hostOut = out
            hostLse = lse
        }
        // The tensors stay alive while their memory is read through views and pointers.
        withExtendedLifetime((hostOut, hostLse)) {
            let outNaNs = HalfBits.countNaNs(hostOut.view)
            if outNaNs > 0 { warnings.append("\(outNaNs) NaN value(s) in out") }
            let lseValues = UnsafeBufferPointer(start: hostLse.view.hostPointer!.assumingMemoryBound(to: Float.self),
                                                count: hostLse.view.elementCount)
            let lseNaNs = lseValues.reduce(0) { $0 + ($1.isNaN ? 1 : 0) }
            if lseNaNs > 0 { warnings.append("\(lseNaNs) NaN value(s) in lse") }
        }
        return warnings
    }
}

/// Host inputs of one benchmark configuration, laid out as FlashMLA's benchmark lays them out:
/// `q` `[b, s_q, h_q, d]` random; `blockTable` `[b, maxPad/64]` a random permutation of the
/// `b · maxPad/64` pages, `maxPad = ⌈max(seqlens)/256⌉·256`; `kCache` `[pages, 64, h_kv, d]`
/// random, with NaN in every slot past each sequence's end; `cacheSeqlens` `[b]`.
///
/// Generation runs on all cores; the values depend only on the seed.
struct BenchInputs {
    let q: Tensor
    var kCache: Tensor
    var blockTable: Tensor
    let cacheSeqlens: Tensor

    /// `⌈maxSeqlen/256⌉·256`, at least 256.
    static func paddedLength(maxSeqlen: Int) -> Int {
        max(1, (maxSeqlen + 255) / 256) * 256
    }

    init(config: BenchConfig, cacheSeqlens lengths: [Int32], elementType: ElementType, seed: UInt64) {
        precondition(elementType.isHalfPrecision, "bench inputs are bf16 or fp16")
        let page = TileSchedule.blockSize, d = config.d
        let pagesPerRequest = Self.paddedLength(maxSeqlen: Int(lengths.max() ?? 0)) / page
        let numPages = config.b * pagesPerRequest
        var rng = InputRandom(seed: seed)

        var physical = (0..<numPages).map { Int32($0) }
        physical.shuffle(using: &rng)
        var logical = [Int32](repeating: 0, count: numPages)
        for (index, page) in physical.enumerated() { logical[Int(page)] = Int32(index) }
        blockTable = Tensor(physical, shape: [config.b, pagesPerRequest])
        cacheSeqlens = Tensor(lengths, shape: [config.b])

        let bf16 = elementType == .bfloat16
        q = Tensor(hostElementType: elementType, shape: [config.b, config.sQ, config.hQ, d])
        let qBits = HalfBits(q.view)
        let qCount = q.view.elementCount, chunk = 1 << 16
        let qSeed = rng.next()
        DispatchQueue.concurrentPerform(iterations: (qCount + chunk - 1) / chunk) { task in
            var local = InputRandom(seed: qSeed &+ UInt64(task) &* 0xD1B5_4A32_D192_ED03)
            qBits.fillRandom(task * chunk..<min(qCount, (task + 1) * chunk), bf16: bf16, rng: &local)
        }

        kCache = Tensor(hostElementType: elementType, shape: [numPages, page, config.hKV, d])
        let kBits = HalfBits(kCache.view)
        let rowElements = config.hKV * d, pageElements = page * rowElements
        let pagesPerTask = 8, kSeed = rng.next()
        let owners = logical
        DispatchQueue.concurrentPerform(iterations: (numPages + pagesPerTask - 1) / pagesPerTask) { task in
            var local = InputRandom(seed: kSeed &+ UInt64(task) &* 0xD1B5_4A32_D192_ED03)
            for physicalPage in task * pagesPerTask..<min(numPages, (task + 1) * pagesPerTask) {
                let slot = Int(owners[physicalPage])
                let request = slot / pagesPerRequest, pageOfRequest = slot % pagesPerRequest
                let valid = min(max(Int(lengths[request]) - pageOfRequest * page, 0), page)
                let start = physicalPage * pageElements, boundary = start + valid * rowElements
                kBits.fillRandom(start..<boundary, bf16: bf16, rng: &local)
                kBits.fillNaN(boundary..<start + pageElements, bf16: bf16)
            }
        }
    }
}

/// Raw 16-bit access to a contiguous host tensor of `bfloat16` or `float16`.
struct HalfBits: @unchecked Sendable {
    /// The first element.
    let base: UnsafeMutablePointer<UInt16>

    /// Wraps a contiguous host view.
    init(_ view: TensorView) {
        precondition(view.isContiguous && view.elementType.isHalfPrecision, "HalfBits needs a contiguous 16-bit host tensor")
        base = view.hostPointer!.assumingMemoryBound(to: UInt16.self)
    }

    /// The quiet NaN of each type.
    static func nanBits(bf16: Bool) -> UInt16 { bf16 ? 0x7FC0 : 0x7E00 }

    /// Writes roughly normal random values into `range`.
    func fillRandom(_ range: Range<Int>, bf16: Bool, rng: inout InputRandom) {
        if bf16 {
            for index in range { base[index] = BFloat16(rng.normalish()).bitPattern }
        } else {
            for index in range { base[index] = Float16(rng.normalish()).bitPattern }
        }
    }

    /// Writes NaN into `range`.
    func fillNaN(_ range: Range<Int>, bf16: Bool) {
        guard !range.isEmpty else { return }
        (base + range.lowerBound).update(repeating: Self.nanBits(bf16: bf16), count: range.count)
    }

    /// The NaN elements of a contiguous 16-bit host tensor.
    static func countNaNs(_ view: TensorView) -> Int {
        let bits = HalfBits(view)
        let exponent: UInt16 = view.elementType == .bfloat16 ? 0x7F80 : 0x7C00
        let mantissa: UInt16 = view.elementType == .bfloat16 ? 0x007F : 0x03FF
        var count = 0
        for index in 0..<view.elementCount {
            let value = bits.base[index]
            if value & exponent == exponent, value & mantissa != 0 { count += 1 }
        }
        return count
    }
}

/// A failure while benchmarking, printed as its message (without the usage text that
/// ArgumentParser adds to a `ValidationError`).
struct BenchError: Error, CustomStringConvertible {
    /// The message.
    var description: String

    /// An error with `message`.
    init(_ message: String) { description = message }
}

/// Facts about the host.
enum HostInfo {
    /// The CPU's model name from `/proc/cpuinfo`, or `host CPU`.
    static func cpuModelName() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "host CPU" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                let name = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if !name.isEmpty { return name }
            }
        }
        return "host CPU"
    }
}
