// TuneCommand: `flashmla tune`.
import ArgumentParser
import CUDADriver
import FlashMLA
import Foundation
import NVRTC

/// `flashmla tune`: measures which decode kernel is fastest on this device for each class of
/// query rows per KV head, and stores the result as the device's ``DecodeKernelTable`` beside
/// the compile cache, where every later process on this machine finds it.
///
/// Each candidate kernel is timed by `flashmla bench` in a child process with
/// `FLASHMLA_KERNEL` forcing it, on three problems per row class (b = 128 requests of 4096, 8192
/// and 16384 tokens, one KV head: FlashMLA's grid shapes), so the measurement is exactly what
/// `bench` reports; a kernel's time for a class is the geometric mean over the three lengths
/// (on the H200 the kernels' order at 16 rows changes between 4096 and 16384 tokens).
///
/// Then, with each class's chosen kernel, the schedule's numbers (``SchedulePolicy``) are
/// measured on four uniform problems over the class's `P` workers (``ScheduleProbe``): the time
/// of a block, of a piece's start (the fixed cost) and of a split (the slack), each in blocks.
struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Time each decode kernel per row class on this GPU and store the fastest as its kernel table.",
        discussion: """
            Row classes: 16, 32, 64 and 128 query rows per KV head (s_q·h_q/h_kv); a row count \
            takes the choice of the smallest class that holds it. Each kernel is timed at half, \
            once and twice --seqlen tokens a request; its geometric mean over the three is what is \
            compared. A kernel replaces the rule's \
            choice only when it is faster by more than --margin. The table is written to \
            <compile cache>/tuning/<device>-<SMs>sm-<capability>.json (0600) unless --dry-run.
            """
    )

    @Option(help: "The CUDA device ordinal.")
    var device: Int = 0

    @Option(help: "Timed calls per problem (300: long enough to reach the card's power limit, as a serving GPU does).")
    var iterations: Int = 300

    @Option(help: "Tokens per request of the middle tuning problem (the others take half and twice as many).")
    var seqlen: Int = 8192

    @Option(help: "Relative time a kernel must save over the rule's choice to replace it (0.01 = 1%).")
    var margin: Double = 0.01

    @Flag(help: "Print the table without storing it.")
    var dryRun = false

    @Flag(inversion: .prefixedNo, help: "Measure each row class's schedule numbers (fixed cost, slack) with its kernel.")
    var schedule = true

    /// The row classes tuned and the batch of each tuning problem.
    static let rowClasses = [16, 32, 64, 128]
    static let batch = 128

    func validate() throws {
        guard iterations >= 1 else { throw ValidationError("--iterations must be >= 1 (given \(iterations))") }
        guard (128...1 << 19).contains(seqlen) else { throw ValidationError("--seqlen must be in 128…524288 (given \(seqlen))") }
        guard (0..<1).contains(margin) else { throw ValidationError("--margin must be in [0, 1) (given \(margin))") }
    }

    func run() throws {
        let device = try Device(ordinal: self.device)
        let capability = "\(device.computeCapability.major).\(device.computeCapability.minor)"
        let candidates = device.computeCapability.major == 9 && device.computeCapability.minor == 0
            ? ["sm80", "sm90-lockstep", "sm90-seesaw"] : ["sm80"]
        guard candidates.count > 1 else {
            print("\(device.name) (sm_\(device.computeCapability.major)\(device.computeCapability.minor)): only the portable kernel runs here; nothing to tune")
            return
        }
        let grid = FileManager.default.temporaryDirectory.appendingPathComponent("flashmla-tune-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: grid) }
        try Self.gridJSON(seqlen: seqlen).write(to: grid)

        var measured: [Int: [String: Double]] = [:]
        for kernel in candidates {
            StandardError.line("tune: timing \(kernel) on \(Self.rowClasses.map(String.init).joined(separator: ", ")) rows per KV head")
            for (rows, ms) in try bench(kernel: kernel, grid: grid) { measured[rows, default: [:]][kernel] = ms }
        }
        var entries: [DecodeKernelTable.Entry] = try Self.rowClasses.map { rows in
            guard let times = measured[rows], !times.isEmpty else {
                throw ValidationError("no time was measured for \(rows) rows per KV head")
            }
            let kernel = Self.choice(times: times, rule: rows > 64 ? "sm90-seesaw" : "sm90-lockstep", margin: margin)
            return .init(maxRowsPerKVHead: rows == Self.rowClasses.last ? Int(Int32.max) : rows, kernel: kernel, milliseconds: times)
        }
        var notes: [Int: String] = [:]
        if schedule {
            let blocks = Self.scheduleBlocks(seqlen: seqlen)
            for (index, rows) in Self.rowClasses.enumerated() {
                let parts = TileSchedule.numSMParts(multiprocessors: device.multiprocessorCount, rowsPerKVHead: rows, kvHeads: 1)
                guard parts >= 2 else { continue }
                StandardError.line("tune: the schedule's numbers for \(rows) rows per KV head with \(entries[index].kernel)")
                let grid = FileManager.default.temporaryDirectory.appendingPathComponent("flashmla-tune-schedule-\(getpid()).json")
                defer { try? FileManager.default.removeItem(at: grid) }
                try Self.scheduleGridJSON(rows: rows, parts: parts, blocks: blocks).write(to: grid)
                let times = try benchProbes(kernel: entries[index].kernel, grid: grid, parts: parts, blocks: blocks)
                guard let measuredPolicy = Self.schedulePolicy(times: times, blocks: blocks) else {
                    notes[rows] = "schedule: not measurable (\(times)); the standard numbers stay"
                    continue
                }
                entries[index].schedule = measuredPolicy.policy
                notes[rows] = String(format: "block %.2f µs, fixed cost %.1f → %d blocks, split %.1f → slack %d blocks",
                                     measuredPolicy.blockMilliseconds * 1000, measuredPolicy.fixedCost, measuredPolicy.policy.fixedCostBlocks,
                                     measuredPolicy.splitCost, measuredPolicy.policy.wholeRequestSlackBlocks)
            }
        }
        let table = DecodeKernelTable(
            deviceName: device.name, multiprocessors: device.multiprocessorCount, computeCapability: capability,
            source: "flashmla tune \(FlashMLAVersion.string), \(Date().formatted(.iso8601))", entries: entries)
        for (entry, rows) in zip(table.entries, Self.rowClasses) {
            let times = entry.milliseconds.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.4f", $0.value)) ms" }
            print("rows ≤ \(entry.maxRowsPerKVHead == Int(Int32.max) ? "any" : String(entry.maxRowsPerKVHead)): \(entry.kernel)   (\(times.joined(separator: ", ")))")
            if let note = notes[rows] { print("    \(note)") }
        }
        let url = DecodeKernelTable.fileURL(cacheDirectory: CompileCache.defaultDirectory(), deviceName: device.name,
                                            multiprocessors: device.multiprocessorCount, computeCapability: capability)
        if dryRun {
            print("not stored (--dry-run); it would go to \(url.path)")
        } else {
            try table.store(to: url)
            print("stored: \(url.path)")
        }
    }

    /// The kernel a table entry gets: the fastest, unless the rule's kernel is within `margin` of
    /// it (a difference that small is not worth a per-card exception).
    static func choice(times: [String: Double], rule: String, margin: Double) -> String {
        guard let fastest = times.min(by: { $0.value < $1.value }) else { return rule }
        if let ruled = times[rule], ruled <= fastest.value * (1 + margin) { return rule }
        return fastest.key
    }

    /// The lengths a kernel is timed at for `seqlen`: half, once and twice.
    static func lengths(seqlen: Int) -> [Int] {
        [seqlen / 2, seqlen, 2 * seqlen]
    }

    /// The tuning grid: per row class one configuration per length of ``lengths(seqlen:)``, h_kv 1,
    /// s_q 1, uniform lengths.
    static func gridJSON(seqlen: Int) throws -> Data {
        let configs = rowClasses.flatMap { rows in lengths(seqlen: seqlen).map { uniformConfig(batch: batch, rows: rows, seqlen: $0) } }
        return try JSONSerialization.data(withJSONObject: ["name": "tune", "dtype": "bf16", "configs": configs])
    }

    /// One grid configuration of tune's problems: `batch` requests of `seqlen` tokens, `rows`
    /// query heads on one KV head, s_q 1 (FlashMLA's grid format).
    static func uniformConfig(batch: Int, rows: Int, seqlen: Int) -> [String: Any] {
        ["b": batch, "s_q": 1, "mean_sk": seqlen, "h_q": rows, "h_kv": 1, "d": 576, "dv": 512, "causal": true,
         "varlen": false, "cache_seqlens": Array(repeating: seqlen, count: batch)]
    }

    /// Each row class's time under `FLASHMLA_KERNEL=kernel`, from a child `flashmla bench --json`:
    /// the geometric mean of its median times over the grid's lengths (a class missing one has none).
    private func bench(kernel: String, grid: URL) throws -> [Int: Double] {
        var times: [Int: [Double]] = [:]
        for row in try benchRows(kernel: kernel, grid: grid) {
            guard let rows = row["h_q"] as? Int, let ms = row["ms"] as? Double else { continue }
            times[rows, default: []].append(ms)
        }
        return times.compactMapValues { $0.count == Self.lengths(seqlen: seqlen).count ? Self.geometricMean($0) : nil }
    }

    /// The geometric mean of positive `values`.
    static func geometricMean(_ values: [Double]) -> Double {
        exp(values.map { log($0) }.reduce(0, +) / Double(values.count))
    }

    /// The probes' times under `FLASHMLA_KERNEL=kernel` and the standard schedule: each the mean
    /// of its two median times in the grid's forward and backward passes.
    private func benchProbes(kernel: String, grid: URL, parts: Int, blocks: Int) throws -> [ScheduleProbe: Double] {
        var times: [ScheduleProbe: [Double]] = [:]
        for row in try benchRows(kernel: kernel, grid: grid, environment: ["FLASHMLA_SCHEDULE": "standard"]) {
            guard let batch = row["b"] as? Int, let ms = row["ms"] as? Double else { continue }
            let seqlen = (row["mean_sk"] as? Double).map { Int($0.rounded()) } ?? (row["mean_sk"] as? Int)
            for probe in ScheduleProbe.allCases where probe.batch(parts: parts) == batch && probe.blocks(blocks) * TileSchedule.blockSize == seqlen {
                times[probe, default: []].append(ms)
            }
        }
        return times.mapValues { $0.reduce(0, +) / Double($0.count) }
    }

    /// The JSON rows of a child `flashmla bench --json` on `grid` under `FLASHMLA_KERNEL=kernel`.
    private func benchRows(kernel: String, grid: URL, environment extra: [String: String] = [:]) throws -> [[String: Any]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        process.arguments = ["bench", "--grid", grid.path, "--json", "--backend", "cuda", "--device", String(device),
                             "--iterations", String(iterations)]
        var environment = ProcessInfo.processInfo.environment
        environment["FLASHMLA_KERNEL"] = kernel
        environment.merge(extra) { $1 }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("flashmla bench with FLASHMLA_KERNEL=\(kernel) failed (exit \(process.terminationStatus))")
        }
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("{") }.compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}
