// PtxasReport: registers, shared memory and spills from ptxas's info log.
import FoundationEssentials

/// The resources ptxas assigned to one function, as printed by `--ptxas-options=-v`.
public struct KernelResources: Sendable, Equatable, Codable {
    /// The function's name as ptxas prints it: plain for `extern "C"`, otherwise mangled.
    public var name: String
    /// Registers per thread (`Used N registers`).
    public var registers: Int
    /// Named barriers used (`used N barriers`).
    public var barriers: Int
    /// Static shared memory in bytes (`N bytes smem`); dynamic shared memory is not included.
    public var sharedMemoryBytes: Int
    /// Per-thread stack frame in bytes.
    public var stackFrameBytes: Int
    /// Bytes stored to local memory because registers ran out.
    public var spillStoreBytes: Int
    /// Bytes loaded back from local memory because registers ran out.
    public var spillLoadBytes: Int
    /// Constant bank 0 in bytes (`N bytes cmem[0]`, mostly kernel parameters), when ptxas reports it.
    public var constantBytes: Int?

    /// Creates a record; every count defaults to zero.
    public init(
        name: String, registers: Int = 0, barriers: Int = 0, sharedMemoryBytes: Int = 0,
        stackFrameBytes: Int = 0, spillStoreBytes: Int = 0, spillLoadBytes: Int = 0, constantBytes: Int? = nil
    ) {
        self.name = name
        self.registers = registers
        self.barriers = barriers
        self.sharedMemoryBytes = sharedMemoryBytes
        self.stackFrameBytes = stackFrameBytes
        self.spillStoreBytes = spillStoreBytes
        self.spillLoadBytes = spillLoadBytes
        self.constantBytes = constantBytes
    }

    /// Whether this function spills registers to local memory.
    public var spills: Bool { spillStoreBytes > 0 || spillLoadBytes > 0 }
}

/// What ptxas said about a compiled program: per-kernel registers, shared memory, stack and spills.
public struct PtxasReport: Sendable, Equatable, Codable {
    /// Entry functions (`__global__` kernels), in the order ptxas compiled them.
    public var kernels: [KernelResources]
    /// Non-inlined device functions that ptxas reported properties for (stack and spills only).
    public var deviceFunctions: [KernelResources]

    /// Creates a report from already-parsed records.
    public init(kernels: [KernelResources], deviceFunctions: [KernelResources] = []) {
        self.kernels = kernels
        self.deviceFunctions = deviceFunctions
    }

    /// Whether any kernel or device function spills registers.
    public var hasSpills: Bool {
        kernels.contains(where: \.spills) || deviceFunctions.contains(where: \.spills)
    }

    /// The kernel called `name`, if ptxas reported it.
    public func kernel(named name: String) -> KernelResources? {
        kernels.first { $0.name == name }
    }

    /// Parses the ptxas lines of an NVRTC program log; all other lines are ignored.
    ///
    /// Understands `Compiling entry function 'NAME' for 'sm_XX'`, `Function properties for NAME`
    /// followed by `N bytes stack frame, N bytes spill stores, N bytes spill loads` (with or without
    /// the `ptxas .` prefix), and `Used N registers, used N barriers, N bytes smem, N bytes cmem[0]`.
    /// The properties block may come before or after the `Used` line. A function that never appears
    /// as an entry function is listed under ``deviceFunctions``.
    public static func parse(_ log: String) -> PtxasReport {
        var records: [String: KernelResources] = [:]
        var firstSeen: [String] = []
        var entries: [String] = []
        var currentEntry: String?
        var propertiesOf: String?

        func update(_ name: String, _ change: (inout KernelResources) -> Void) {
            if records[name] == nil {
                records[name] = KernelResources(name: name)
                firstSeen.append(name)
            }
            change(&records[name]!)
        }

        for rawLine in log.split(whereSeparator: \.isNewline) {
            let line = String(rawLine)
            if let name = quoted(after: "Compiling entry function '", in: line) {
                currentEntry = name
                propertiesOf = nil
                if !entries.contains(name) { entries.append(name) }
                update(name) { _ in }
            } else if let range = line.firstRange(of: "Function properties for ") {
                let name = String(line[range.upperBound...]).trimmingWhitespace()
                propertiesOf = name
                update(name) { _ in }
            } else if line.contains("bytes stack frame"), let name = propertiesOf {
                let fields = countedFields(line)
                update(name) { record in
                    record.stackFrameBytes = fields["bytes stack frame"] ?? 0
                    record.spillStoreBytes = fields["bytes spill stores"] ?? 0
                    record.spillLoadBytes = fields["bytes spill loads"] ?? 0
                }
                propertiesOf = nil
            } else if let range = line.firstRange(of: ": Used "), let name = currentEntry {
                let fields = countedFields("Used " + line[range.upperBound...])
                update(name) { record in
                    record.registers = fields["registers"] ?? record.registers
                    record.barriers = fields["barriers"] ?? record.barriers
                    record.sharedMemoryBytes = fields["bytes smem"] ?? record.sharedMemoryBytes
                    record.constantBytes = fields["bytes cmem[0]"] ?? record.constantBytes
                }
            }
        }
        let kernels = entries.compactMap { records[$0] }
        let deviceFunctions = firstSeen.filter { !entries.contains($0) }.compactMap { records[$0] }
        return PtxasReport(kernels: kernels, deviceFunctions: deviceFunctions)
    }

    /// The text between `prefix` and the next `'`, if `line` contains `prefix`.
    private static func quoted(after prefix: String, in line: String) -> String? {
        guard let start = line.firstRange(of: prefix) else { return nil }
        let rest = line[start.upperBound...]
        guard let end = rest.firstIndex(of: "'") else { return nil }
        return String(rest[..<end])
    }

    /// Splits `"Used 10 registers, used 1 barriers, 4096 bytes smem"` into
    /// `["registers": 10, "barriers": 1, "bytes smem": 4096]`: each comma-separated part's first number
    /// keyed by the words after it, a leading `Used`/`used` dropped.
    private static func countedFields(_ text: String) -> [String: Int] {
        var fields: [String: Int] = [:]
        for part in text.split(separator: ",") {
            var words = part.split(separator: " ").filter { $0 != "." && $0 != "ptxas" }
            if let first = words.first, first.lowercased() == "used" { words.removeFirst() }
            guard let number = words.first.flatMap({ Int($0) }) else { continue }
            fields[words.dropFirst().joined(separator: " ")] = number
        }
        return fields
    }
}
