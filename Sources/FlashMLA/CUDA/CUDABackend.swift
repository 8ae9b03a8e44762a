// CUDABackend: one device's stream, workspace, kernels and settings.
import CUDADriver
import FoundationEssentials
import NVRTC
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A stream the work of a call is queued on (CUDADriver's `Stream`; wrap PyTorch's with
/// `Stream(borrowing:device:)`).
public typealias ExecutionStream = Stream

/// The CUDA backend of one device: its compiled kernels, a default stream and a default
/// workspace. One instance per device ordinal, shared by every engine of that device.
public final class CUDABackend: @unchecked Sendable {
    /// The device.
    public let device: Device
    /// The stream calls use when none is given.
    public let stream: ExecutionStream
    /// The workspace calls use when none is given.
    public let workspace: Workspace
    let kernels: KernelLibrary
    /// The decode kernel choice, `FLASHMLA_KERNEL` (`sm80`, `sm90`, `sm90-lockstep`, `sm90-seesaw`) or automatic.
    let kernelPreference: DecodeKernel.Preference
    /// The device's kernel table: the one `flashmla tune` stored for it beside the compile cache,
    /// else the one shipped for its card, else nil (the rule; ``DecodeKernelTable``).
    public let kernelTable: DecodeKernelTable?
    /// Whether a decode call's kernels are launched with programmatic dependent launch (sm_90
    /// and newer, unless `FLASHMLA_PDL=0`): the decode kernel's blocks start while the kernel
    /// ahead of it on the stream finishes, the combine's while the decode kernel finishes, and
    /// each waits in the kernel (`griddepcontrol.wait`) before it reads what the one before wrote.
    let programmaticLaunch: Bool
    /// Whether dense schedules take the kernel table's measured numbers (``schedulePolicy(rowsPerKVHead:sparse:)``):
    /// yes unless `FLASHMLA_SCHEDULE=standard` (for measurement; `flashmla tune` uses it).
    let tableSchedule: Bool

    private static let registry = Mutex<[Int: CUDABackend]>([:])

    /// The backend of device `ordinal`, made on first use.
    public static func shared(device ordinal: Int) throws(MLAError) -> CUDABackend {
        try registry.withLock { backends throws(MLAError) -> CUDABackend in
            if let backend = backends[ordinal] { return backend }
            let backend = try CUDABackend(ordinal: ordinal)
            backends[ordinal] = backend
            return backend
        }
    }

    private init(ordinal: Int) throws(MLAError) {
        let device = try cuda { () throws(CUDAError) in try Device(ordinal: ordinal) }
        guard device.computeCapability.major >= 8 else {
            throw .unsupportedDevice(device: "\(device.name) (cuda:\(ordinal))",
                                     reason: "compute capability \(device.computeCapability) is older than 8.0; the kernels need sm_80 or newer")
        }
        self.device = device
        stream = try cuda { () throws(CUDAError) in try Stream(device: device) }
        workspace = try Workspace(device: device)
        kernels = KernelLibrary(device: device,
                                coldStart: try ColdStart(environment: getenv("FLASHMLA_COLD_START").map { String(cString: $0) }))
        kernelPreference = try DecodeKernel.Preference(environment: getenv("FLASHMLA_KERNEL").map { String(cString: $0) })
        kernelTable = try DecodeKernelTable.table(for: device, cacheDirectory: CompileCache.defaultDirectory())
        programmaticLaunch = Self.programmaticLaunch(computeCapabilityMajor: device.computeCapability.major,
                                                     environment: getenv("FLASHMLA_PDL").map { String(cString: $0) })
        tableSchedule = try Self.tableSchedule(environment: getenv("FLASHMLA_SCHEDULE").map { String(cString: $0) })
    }

    /// `FLASHMLA_SCHEDULE`: unset, empty or `table` (the kernel table's numbers), or `standard`
    /// (``SchedulePolicy/standard(rowsPerKVHead:)`` whatever the table says).
    static func tableSchedule(environment: String?) throws(MLAError) -> Bool {
        switch environment {
        case nil, "", "table": return true
        case "standard": return false
        case let other?: throw .invalidArgument(argument: "FLASHMLA_SCHEDULE", expected: "table or standard", given: "\"\(other)\"")
        }
    }

    /// The schedule's numbers for a call with `rowsPerKVHead` query rows per KV head on this
    /// device: for a dense call the kernel table's measured policy for that row class (standard
    /// without a table, without a measured policy, or with `FLASHMLA_SCHEDULE=standard`); for a
    /// sparse call always the standard one (the table measures the dense kernels).
    public func schedulePolicy(rowsPerKVHead: Int, sparse: Bool) -> SchedulePolicy {
        guard !sparse, tableSchedule, let kernelTable else { return .standard(rowsPerKVHead: rowsPerKVHead) }
        return kernelTable.schedulePolicy(rowsPerKVHead: rowsPerKVHead)
    }

    /// Programmatic dependent launch needs sm_90 or newer; `FLASHMLA_PDL=0` turns it off (for
    /// measurement).
    static func programmaticLaunch(computeCapabilityMajor: Int, environment: String?) -> Bool {
        computeCapabilityMajor >= 9 && environment != "0"
    }

    /// Blocks until every kernel compile running in the background (started on a cold cache
    /// while a substitute kernel ran; `FLASHMLA_COLD_START` in the README) has finished and is
    /// loaded, so that later calls run the kernels a warm process runs. A decode call never needs to.
    public func waitForBackgroundCompiles() throws(MLAError) {
        try kernels.waitForBackgroundBuilds()
    }

    /// Waits until all work queued on the default stream is done.
    public func synchronize() throws(MLAError) {
        try cuda { () throws(CUDAError) in try stream.synchronize() }
    }

    // MARK: Memory

    /// A contiguous, uninitialized device tensor.
    public func allocate(elementType: ElementType, shape: [Int]) throws(MLAError) -> Tensor {
        let bytes = shape.reduce(1, *) * elementType.byteCount
        let allocation = try DeviceAllocation(device: device, byteCount: max(bytes, 1))
        let view = TensorView(elementType: elementType, shape: shape,
                              storage: .device(ordinal: device.ordinal, address: allocation.address))
        return Tensor(view: view, owner: allocation)
    }

    /// A device copy of a contiguous host tensor, complete when this returns.
    ///
    /// The copy is queued on the backend's stream and waited for. (A plain `cuMemcpyHtoD` runs on
    /// the legacy default stream, which this backend's non-blocking stream does not wait for, and
    /// from pageable memory it may return before the data has landed: a decode queued right after
    /// could read the tensor half-written. `check-sparse` uploads and decodes back to back.)
    public func upload(_ host: TensorView) throws(MLAError) -> Tensor {
        guard let pointer = host.hostPointer, host.isContiguous else {
            throw .invalidArgument(argument: "host", expected: "a contiguous host tensor", given: host.shapeDescription)
        }
        let tensor = try allocate(elementType: host.elementType, shape: host.shape)
        let bytes = host.elementCount * host.elementType.byteCount
        try cuda { () throws(CUDAError) in
            try DeviceMemory.copyFromHost(UnsafeRawBufferPointer(start: pointer, count: bytes),
                                          to: tensor.view.deviceAddress!, stream: stream)
            try stream.synchronize()
        }
        return tensor
    }

    /// A host copy of a contiguous device tensor, after the work queued before it is done.
    public func download(_ view: TensorView) throws(MLAError) -> Tensor {
        guard let address = view.deviceAddress, view.isContiguous else {
            throw .invalidArgument(argument: "view", expected: "a contiguous device tensor", given: view.shapeDescription)
        }
        let host = Tensor(hostElementType: view.elementType, shape: view.shape)
        let bytes = view.elementCount * view.elementType.byteCount
        try cuda { () throws(CUDAError) in
            try stream.synchronize()
            try DeviceMemory.copyToHost(from: address, into: UnsafeMutableRawBufferPointer(start: host.view.hostPointer!, count: bytes),
                                        device: device)
        }
        return host
    }

    // MARK: The two calls

    func decode(_ problem: DecodeProblem, workspace: Workspace?, stream: ExecutionStream?) throws(MLAError) {
        try launchDecode(problem, workspace: workspace ?? self.workspace, stream: stream ?? self.stream)
    }
}
