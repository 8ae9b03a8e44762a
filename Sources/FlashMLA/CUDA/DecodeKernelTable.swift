// DecodeKernelTable: the measured decode kernel per range of rows per KV head.
import CUDADriver
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Which decode kernel a device runs for each range of query rows per KV head: measured on the
/// device by `flashmla tune` and stored beside the compile cache, or shipped for the cards the
/// project has measured (``shipped``).
///
/// Without a table the rule is the kernels' design: on sm_90 the lockstep kernel up to 64 rows
/// (memory-bound: both warpgroups stream one page), the seesaw kernel above (compute-bound);
/// elsewhere the portable kernel. A table only changes the choice where a measurement on that
/// card said so; `FLASHMLA_KERNEL` still overrides both.
public struct DecodeKernelTable: Codable, Sendable, Equatable {
    /// One range of row counts and the kernel measured fastest on it.
    public struct Entry: Codable, Sendable, Equatable {
        /// The entry covers row counts above the previous entry's bound, up to this one (inclusive).
        public var maxRowsPerKVHead: Int
        /// The kernel, in `FLASHMLA_KERNEL`'s names: `sm80`, `sm90-lockstep` or `sm90-seesaw`.
        public var kernel: String
        /// Median milliseconds of each kernel tried on the tuning problem, by name (what the choice rests on).
        public var milliseconds: [String: Double]
        /// The schedule's numbers measured with `kernel` on this card, or nil for the standard
        /// ones (``SchedulePolicy/standard(rowsPerKVHead:)``; tables stored before they were
        /// measured have none).
        public var schedule: SchedulePolicy?

        /// Creates an entry.
        public init(maxRowsPerKVHead: Int, kernel: String, milliseconds: [String: Double] = [:], schedule: SchedulePolicy? = nil) {
            self.maxRowsPerKVHead = maxRowsPerKVHead
            self.kernel = kernel
            self.milliseconds = milliseconds
            self.schedule = schedule
        }
    }

    /// The device's name as the driver reports it (`NVIDIA H200`).
    public var deviceName: String
    /// Its multiprocessors.
    public var multiprocessors: Int
    /// Its compute capability, `major.minor`.
    public var computeCapability: String
    /// Where the table comes from: `shipped (…)` or `flashmla tune, <date>`.
    public var source: String
    /// The ranges, by increasing bound; row counts above the last bound follow the rule.
    public var entries: [Entry]

    /// Creates a table.
    public init(deviceName: String, multiprocessors: Int, computeCapability: String, source: String, entries: [Entry]) {
        self.deviceName = deviceName
        self.multiprocessors = multiprocessors
        self.computeCapability = computeCapability
        self.source = source
        self.entries = entries.sorted { $0.maxRowsPerKVHead < $1.maxRowsPerKVHead }
    }

    /// The kernel name the table gives `rowsPerKVHead` rows, or nil past its last entry.
    public func kernelName(rowsPerKVHead: Int) -> String? {
        entries.first { rowsPerKVHead <= $0.maxRowsPerKVHead }?.kernel
    }

    /// The dense schedule's numbers for `rowsPerKVHead` rows: the covering entry's measured
    /// policy, else the standard one.
    public func schedulePolicy(rowsPerKVHead: Int) -> SchedulePolicy {
        entries.first { rowsPerKVHead <= $0.maxRowsPerKVHead }?.schedule ?? .standard(rowsPerKVHead: rowsPerKVHead)
    }

    /// Whether the table was measured on a device like this one (same name, multiprocessors and
    /// compute capability): a table is never applied to another card.
    public func matches(deviceName: String, multiprocessors: Int, computeCapability: String) -> Bool {
        self.deviceName == deviceName && self.multiprocessors == multiprocessors && self.computeCapability == computeCapability
    }

    // MARK: Shipped defaults

    /// The tables measured by the project (bench/DECISIONS.md):
    /// - H100 SXM: 16 rows on the portable kernel, 1.1% faster than lockstep there (D3: a
    ///   `FLASHMLA_KERNEL=sm90` A/B in one call); then the rule.
    ///   Its schedule numbers are the standard ones, which were measured there.
    /// - H200: `flashmla tune`'s table (2026-12-04, 300 calls a problem; bench/DECISIONS.md
    ///   D92–D94): the seesaw kernel for every row count, with the fixed cost and slack measured
    ///   for each class. Two warpgroups on two pages out of phase keep more of the H200's 4.3 TB/s
    ///   in flight than the lockstep kernel's one page's chain of work, and it slows less in
    ///   sustained runs at the card's 700 W limit (at 32 rows tune found the two tied over 30 calls
    ///   a problem, the seesaw kernel 3–5% ahead over 300). On FlashMLA's grid, in the same call, it
    ///   took 2.9–3.7% less time on the 32-row rows, 6.7–7.8% on the 64-row rows and 1.3–1.7% on
    ///   the 16-row rows. The portable kernel is no candidate there (0.3898 ms against 0.3339 at
    ///   16 rows).
    public static let shipped: [DecodeKernelTable] = [
        DecodeKernelTable(deviceName: "NVIDIA H100 80GB HBM3", multiprocessors: 132, computeCapability: "9.0",
                          source: "shipped (H100 SXM, 2026-11-25)",
                          entries: [Entry(maxRowsPerKVHead: 16, kernel: "sm80"),
                                    Entry(maxRowsPerKVHead: 64, kernel: "sm90-lockstep"),
                                    Entry(maxRowsPerKVHead: Int(Int32.max), kernel: "sm90-seesaw")]),
        DecodeKernelTable(deviceName: "NVIDIA H200", multiprocessors: 132, computeCapability: "9.0",
                          source: "shipped (H200 SXM, flashmla tune 2026-12-04)",
                          entries: [Entry(maxRowsPerKVHead: 16, kernel: "sm90-seesaw",
                                          schedule: SchedulePolicy(fixedCostBlocks: 2, wholeRequestSlackBlocks: 2)),
                                    Entry(maxRowsPerKVHead: 32, kernel: "sm90-seesaw",
                                          schedule: SchedulePolicy(fixedCostBlocks: 2, wholeRequestSlackBlocks: 3)),
                                    Entry(maxRowsPerKVHead: 64, kernel: "sm90-seesaw",
                                          schedule: SchedulePolicy(fixedCostBlocks: 4, wholeRequestSlackBlocks: 3)),
                                    Entry(maxRowsPerKVHead: Int(Int32.max), kernel: "sm90-seesaw",
                                          schedule: SchedulePolicy(fixedCostBlocks: 5, wholeRequestSlackBlocks: 3))]),
    ]

    // MARK: Stored tables

    /// The table a backend uses on `device`: the one stored for it in `cacheDirectory` by
    /// `flashmla tune`, else the shipped one for its card, else nil (the rule). A stored table of
    /// another card is ignored; an unsafe or unreadable one is an error.
    public static func table(for device: Device, cacheDirectory: URL) throws(MLAError) -> DecodeKernelTable? {
        let capability = "\(device.computeCapability.major).\(device.computeCapability.minor)"
        let url = fileURL(cacheDirectory: cacheDirectory, deviceName: device.name,
                          multiprocessors: device.multiprocessorCount, computeCapability: capability)
        let matches = { (table: DecodeKernelTable) in
            table.matches(deviceName: device.name, multiprocessors: device.multiprocessorCount, computeCapability: capability)
        }
        if let stored = try load(from: url), matches(stored) { return stored }
        return shipped.first(where: matches)
    }

    /// The file a device's tuned table is stored in: `<cache folder>/tuning/<name>-<SMs>sm-<cc>.json`,
    /// the name with every character other than letters and digits as `_`.
    public static func fileURL(cacheDirectory: URL, deviceName: String, multiprocessors: Int, computeCapability: String) -> URL {
        let safe = String(deviceName.map { $0.isLetter || $0.isNumber ? $0 : "_" })
        return cacheDirectory.appendingPathComponent("tuning", isDirectory: true)
            .appendingPathComponent("\(safe)-\(multiprocessors)sm-\(computeCapability).json")
    }

    /// The table stored at `url`, or nil when there is none; a file that is not a table, or that
    /// another user owns or may write, is an error (a tuning table steers every call).
    public static func load(from url: URL) throws(MLAError) -> DecodeKernelTable? {
        var info = stat()
        guard lstat(url.path, &info) == 0 else { return nil }
        let writableByOthers = info.st_mode & (S_IWGRP | S_IWOTH) != 0
        guard (info.st_mode & S_IFMT) == S_IFREG, info.st_uid == geteuid(), !writableByOthers else {
            throw .invalidArgument(argument: "tuning table \(url.path)",
                                   expected: "a regular file owned by this user and writable by no one else",
                                   given: "mode \(String(info.st_mode & 0o7777, radix: 8)), owner uid \(info.st_uid)")
        }
        do {
            return try JSONDecoder().decode(DecodeKernelTable.self, from: Data(contentsOf: url))
        } catch {
            throw .invalidArgument(argument: "tuning table \(url.path)", expected: "a table written by flashmla tune",
                                   given: "\(error)")
        }
    }

    /// Writes the table to `url` (folders made 0700, the file 0600, by rename so a reader sees
    /// the old table or the new one).
    public func store(to url: URL) throws(MLAError) {
        do {
            let folder = url.deletingLastPathComponent()
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
            try encoder.encode(self).write(to: temporary)
            guard chmod(temporary.path, 0o600) == 0, rename(temporary.path, url.path) == 0 else {
                throw MLAError.backend("cannot move the tuning table into \(url.path): errno \(errno)")
            }
        } catch let error as MLAError {
            throw error
        } catch {
            throw .backend("writing the tuning table \(url.path): \(error)")
        }
    }
}
