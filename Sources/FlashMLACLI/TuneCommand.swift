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
/// `FLASHMLA_KERNEL` forcing it, on one problem per row class (b = 128 requests of 8192 tokens,
/// one KV head: FlashMLA's grid shape), so the measurement is exactly what `bench` reports.
struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Time each decode kernel per row class on this GPU and store the fastest as its kernel table.",
        discussion: """
            Row classes: 16, 32, 64 and 128 query rows per KV head (s_q·h_q/h_kv); a row count \
            takes the choice of the smallest class that holds it. A kernel replaces the rule's \
            choice only when it is faster by more than --margin. The table is written to \
            <compile cache>/tuning/<device>-<SMs>sm-<capability>.json (0600) unless --dry-run.
            """
    )

    @Option(help: "The CUDA device ordinal.")
    var device: Int = 0

    @Option(help: "Timed calls per kernel and class.")
    var iterations: Int = 50

    @Option(help: "Tokens per request of the tuning problems.")
    var seqlen: Int = 8192

    @Option(help: "Relative time a kernel must save over the rule's choice to replace it (0.01 = 1%).")
    var margin: Double = 0.01

    @Flag(help: "Print the table without storing it.")
    var dryRun = false

    /// The row classes tuned and the batch of each tuning problem.
    static let rowClasses = [16, 32, 64, 128]
    static let batch = 128

    func validate() throws {
        guard iterations >= 1 else { throw ValidationError("--iterations must be >= 1 (given \(iterations))") }
        guard (64...1 << 20).contains(seqlen) else { throw ValidationError("--seqlen must be in 64…1048576 (given \(seqlen))") }
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
        let table = DecodeKernelTable(
            deviceName: device.name, multiprocessors: device.multiprocessorCount, computeCapability: capability,
            source: "flashmla tune \(FlashMLAVersion.string), \(Date().formatted(.iso8601))",
            entries: try Self.rowClasses.map { rows in
                guard let times = measured[rows], !times.isEmpty else {
                    throw ValidationError("no time was measured for \(rows) rows per KV head")
                }
                let kernel = Self.choice(times: times, rule: rows > 64 ? "sm90-seesaw" : "sm90-lockstep", margin: margin)
                return .init(maxRowsPerKVHead: rows == Self.rowClasses.last ? Int(Int32.max) : rows, kernel: kernel, milliseconds: times)
            })
        for entry in table.entries {
            let times = entry.milliseconds.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.4f", $0.value)) ms" }
            print("rows ≤ \(entry.maxRowsPerKVHead == Int(Int32.max) ? "any" : String(entry.maxRowsPerKVHead)): \(entry.kernel)   (\(times.joined(separator: ", ")))")
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

    /// The tuning grid: one configuration per row class, h_kv 1, s_q 1, uniform lengths.
    static func gridJSON(seqlen: Int) throws -> Data {
        let configs: [[String: Any]] = rowClasses.map { rows in
            ["b": batch, "s_q": 1, "mean_sk": seqlen, "h_q": rows, "h_kv": 1, "d": 576, "dv": 512, "causal": true,
             "varlen": false, "cache_seqlens": Array(repeating: seqlen, count: batch)]
        }
        return try JSONSerialization.data(withJSONObject: ["name": "tune", "dtype": "bf16", "configs": configs])
    }

    /// Each row class's median time under `FLASHMLA_KERNEL=kernel`, from a child `flashmla bench --json`.
    private func bench(kernel: String, grid: URL) throws -> [Int: Double] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        process.arguments = ["bench", "--grid", grid.path, "--json", "--backend", "cuda", "--device", String(device),
                             "--iterations", String(iterations)]
        var environment = ProcessInfo.processInfo.environment
        environment["FLASHMLA_KERNEL"] = kernel
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("flashmla bench with FLASHMLA_KERNEL=\(kernel) failed (exit \(process.terminationStatus))")
        }
        var times: [Int: Double] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix("{") {
            guard let row = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let rows = row["h_q"] as? Int, let ms = row["ms"] as? Double else { continue }
            times[rows] = ms
        }
        return times
    }
}
