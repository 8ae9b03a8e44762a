// The C ABI's exported functions (flashmla_swift.h) and the argument decoding behind them.
import CUDADriver
import FlashMLA
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The C ABI declared in include/flashmla_swift.h. Every function here is exported under
// its C name; keep the two in step (FLASHMLA_SWIFT_ABI_VERSION changes with any
// incompatible edit).

/// `FLASHMLA_SWIFT_ABI_VERSION`.
public let flashMLASwiftABIVersion: Int32 = 1

/// The static C copy of the library's version string.
nonisolated(unsafe) private let versionCString: UnsafePointer<CChar> = UnsafePointer(strdup(FlashMLAVersion.string)!)

/// The ABI version, `FLASHMLA_SWIFT_ABI_VERSION` of the header it was built with. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_abi_version")
public func flashmla_swift_abi_version() -> Int32 {
    flashMLASwiftABIVersion
}

/// The library version as a static C string. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_version")
public func flashmla_swift_version() -> UnsafePointer<CChar> {
    versionCString
}

/// The message of the last failed call on this thread (empty if none). See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_last_error")
public func flashmla_swift_last_error() -> UnsafePointer<CChar> {
    LastError.current
}

/// The number of workers (`num_sm_parts`) the schedule of this shape uses on `device`. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_num_sm_parts")
public func flashmla_swift_num_sm_parts(
    _ device: Int32, _ numHeadsPerHeadK: Int64, _ numHeadsK: Int64,
    _ numSMPartsOut: UnsafeMutablePointer<Int64>?
) -> Int32 {
    abiCall { () throws(ABIFailure) in
        guard let numSMPartsOut else {
            throw .invalid("numSMPartsOut", expected: "a pointer to an int64_t", given: "NULL")
        }
        let rows = Int(numHeadsPerHeadK), kvHeads = Int(numHeadsK)
        let backend = try Devices.backend(device) { () throws(MLAError) in
            try MetadataRequest.checkHeads(rowsPerKVHead: rows, kvHeads: kvHeads)
        }
        let parts = try library { () throws(MLAError) in try backend.numSMParts(rowsPerKVHead: rows, kvHeads: kvHeads) }
        numSMPartsOut.pointee = Int64(parts)
    }
}

/// FlashMLA's `get_mla_metadata` into caller-allocated int32 tensors, queued on `stream`. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_get_metadata")
public func flashmla_swift_get_metadata(
    _ device: Int32, _ stream: UnsafeMutableRawPointer?,
    _ cacheSeqlens: UnsafeRawPointer?, _ numHeadsPerHeadK: Int64, _ numHeadsK: Int64,
    _ tileSchedulerMetadata: UnsafeRawPointer?, _ numSplits: UnsafeRawPointer?
) -> Int32 {
    abiCall { () throws(ABIFailure) in
        let ordinal = try Devices.ordinal(device)
        let seqlens = try TensorDescriptor.view(cacheSeqlens, "cacheSeqlens", device: ordinal)
        let request = try library { () throws(MLAError) in
            try MetadataRequest(cacheSeqlens: seqlens, rowsPerKVHead: Int(numHeadsPerHeadK), kvHeads: Int(numHeadsK),
                                backend: .cuda(device: ordinal))
        }
        let schedule = try TensorDescriptor.view(tileSchedulerMetadata, "tileSchedulerMetadata", device: ordinal)
        let splits = try TensorDescriptor.view(numSplits, "numSplits", device: ordinal)
        let backend = try Devices.backend(device) { () throws(MLAError) in
            try request.checkOutputs(tileSchedulerMetadata: schedule, numSplits: splits, numSMParts: nil)
        }
        let executionStream = Stream(borrowingAddress: UInt(bitPattern: stream), device: backend.device)
        _ = try library { () throws(MLAError) in
            try backend.metadata(request, tileSchedulerMetadata: schedule, numSplits: splits, stream: executionStream)
        }
    }
}

/// FlashMLA's `flash_mla_with_kvcache` into caller-allocated `out` and `lse`, queued on `stream`. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_decode")
public func flashmla_swift_decode(
    _ device: Int32, _ stream: UnsafeMutableRawPointer?,
    _ q: UnsafeRawPointer?, _ kCache: UnsafeRawPointer?, _ blockTable: UnsafeRawPointer?,
    _ cacheSeqlens: UnsafeRawPointer?, _ tileSchedulerMetadata: UnsafeRawPointer?, _ numSplits: UnsafeRawPointer?,
    _ headDimV: Int64, _ softmaxScale: Float, _ causal: Int32,
    _ out: UnsafeRawPointer?, _ lse: UnsafeRawPointer?, _ workspace: OpaquePointer?
) -> Int32 {
    flashmla_swift_decode_kv(device, stream, q, kCache, blockTable, cacheSeqlens, tileSchedulerMetadata, numSplits,
                             headDimV, softmaxScale, causal, KVFormatCode.native, 1, out, lse, workspace)
}

/// `flashmla_swift_decode` with the cache's format (`FLASHMLA_SWIFT_KV_*`) and, for per-tensor
/// FP8, its scale. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_decode_kv")
public func flashmla_swift_decode_kv(
    _ device: Int32, _ stream: UnsafeMutableRawPointer?,
    _ q: UnsafeRawPointer?, _ kCache: UnsafeRawPointer?, _ blockTable: UnsafeRawPointer?,
    _ cacheSeqlens: UnsafeRawPointer?, _ tileSchedulerMetadata: UnsafeRawPointer?, _ numSplits: UnsafeRawPointer?,
    _ headDimV: Int64, _ softmaxScale: Float, _ causal: Int32, _ kvFormat: Int32, _ kScale: Float,
    _ out: UnsafeRawPointer?, _ lse: UnsafeRawPointer?, _ workspace: OpaquePointer?
) -> Int32 {
    abiCall { () throws(ABIFailure) in
        let ordinal = try Devices.ordinal(device)
        let format = try KVFormatCode.format(kvFormat, kScale: kScale)
        let qView = try TensorDescriptor.view(q, "q", device: ordinal)
        let cacheView = try TensorDescriptor.view(kCache, "kCache", device: ordinal)
        let tableView = try TensorDescriptor.view(blockTable, "blockTable", device: ordinal)
        let seqlensView = try TensorDescriptor.view(cacheSeqlens, "cacheSeqlens", device: ordinal)
        let scheduleView = try TensorDescriptor.view(tileSchedulerMetadata, "tileSchedulerMetadata", device: ordinal)
        let splitsView = try TensorDescriptor.view(numSplits, "numSplits", device: ordinal)
        let outView = try TensorDescriptor.view(out, "out", device: ordinal)
        let lseView = try TensorDescriptor.view(lse, "lse", device: ordinal)
        // Validated once, with no device: the inputs, then the schedule and outputs against them.
        let problem = try library { () throws(MLAError) -> DecodeProblem in
            let inputs = try DecodeInputs(q: qView, kCache: cacheView, blockTable: tableView, cacheSeqlens: seqlensView,
                                          headDimV: Int(clamping: headDimV), softmaxScale: softmaxScale,
                                          causal: causal != 0, kvFormat: format, backend: .cuda(device: ordinal))
            return try DecodeProblem(inputs, metadata: Metadata.wrap(scheduleView, splitsView, for: inputs),
                                     out: outView, lse: lseView)
        }
        let backend = try Devices.backend(device)
        let workspaceObject = workspace.map { Unmanaged<Workspace>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
        let executionStream = Stream(borrowingAddress: UInt(bitPattern: stream), device: backend.device)
        try library { () throws(MLAError) in
            let engine = try MLAEngine(backend: .cuda(device: ordinal))
            try engine.flashMLAWithKVCache(problem, workspace: workspaceObject, stream: executionStream)
        }
    }
}

/// A new split-accumulator workspace on `device`, returned through `workspaceOut`. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_workspace_create")
public func flashmla_swift_workspace_create(_ device: Int32, _ workspaceOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    abiCall { () throws(ABIFailure) in
        guard let workspaceOut else {
            throw .invalid("workspaceOut", expected: "a pointer to a flashmla_swift_workspace *", given: "NULL")
        }
        let backend = try Devices.backend(device)
        let workspace = try library { () throws(MLAError) in try Workspace(device: backend.device) }
        workspaceOut.pointee = OpaquePointer(Unmanaged.passRetained(workspace).toOpaque())
    }
}

/// Grows a workspace to hold `maxTotalSplits` splits of `queryRows` rows: allocates device memory
/// and frees the old, which no queued or captured work may still use. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_workspace_reserve")
public func flashmla_swift_workspace_reserve(_ workspace: OpaquePointer?, _ maxTotalSplits: Int64, _ queryRows: Int64) -> Int32 {
    abiCall { () throws(ABIFailure) in
        guard let workspace else {
            throw .invalid("workspace", expected: "a workspace from flashmla_swift_workspace_create", given: "NULL")
        }
        let limit: Int64 = 1 << 31
        guard (0...limit).contains(maxTotalSplits), (0...limit).contains(queryRows),
              maxTotalSplits * queryRows <= 1 << 40 else {
            throw .invalid("maxTotalSplits, queryRows", expected: "each in 0...\(limit), product at most \(Int64(1) << 40)",
                           given: "\(maxTotalSplits), \(queryRows)")
        }
        let object = Unmanaged<Workspace>.fromOpaque(UnsafeRawPointer(workspace)).takeUnretainedValue()
        try library { () throws(MLAError) in
            try object.reserve(splits: Int(maxTotalSplits), queryRows: Int(queryRows))
        }
    }
}

/// Frees a workspace made by `flashmla_swift_workspace_create`. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_workspace_destroy")
public func flashmla_swift_workspace_destroy(_ workspace: OpaquePointer?) {
    guard let workspace else { return }
    Unmanaged<Workspace>.fromOpaque(UnsafeRawPointer(workspace)).release()
}

// MARK: - Support

/// Runs an ABI call's body: 0 on success; on failure, records the message for
/// `flashmla_swift_last_error` and returns the failure's status code.
func abiCall(_ body: () throws(ABIFailure) -> Void) -> Int32 {
    do {
        try body()
        return ABIStatus.ok.rawValue
    } catch {
        LastError.set(error.message)
        return error.status.rawValue
    }
}

/// Runs a library call, turning its error into the ABI's.
func library<Result>(_ body: () throws(MLAError) -> Result) throws(ABIFailure) -> Result {
    do {
        return try body()
    } catch {
        throw ABIFailure(error)
    }
}

/// The CUDA backend of a device ordinal, with failures sorted into the ABI's codes.
enum Devices {
    /// `device` as an ordinal, or an invalid-argument failure for a negative one.
    static func ordinal(_ device: Int32) throws(ABIFailure) -> Int {
        guard device >= 0 else {
            throw .invalid("device", expected: "a CUDA device ordinal >= 0", given: "\(device)")
        }
        return Int(device)
    }

    /// The backend of `device`. Where there is none (no driver, no such device, a device
    /// too old), `check` runs first, so that a call's argument errors are reported the same
    /// with or without a GPU; it should check what it can without a device.
    static func backend(_ device: Int32, check: () throws(MLAError) -> Void = {}) throws(ABIFailure) -> CUDABackend {
        let ordinal = try ordinal(device)
        do {
            return try CUDABackend.shared(device: ordinal)
        } catch {
            try library(check)
            let driver: CUDADriver
            do {
                driver = try CUDADriver.shared()
            } catch {
                throw ABIFailure(status: .noDevice, message: "no usable CUDA driver: \(error)")
            }
            if let count = try? driver.deviceCount(), ordinal >= count {
                throw ABIFailure(status: .noDevice,
                                 message: "no CUDA device cuda:\(ordinal): \(count) device(s) visible")
            }
            throw ABIFailure(error)
        }
    }
}

/// The cache format codes (`FLASHMLA_SWIFT_KV_*`).
enum KVFormatCode {
    /// `FLASHMLA_SWIFT_KV_NATIVE`.
    static let native: Int32 = 0

    /// The format `code` names, with `kScale` for per-tensor FP8 (ignored by the others).
    static func format(_ code: Int32, kScale: Float) throws(ABIFailure) -> KVCacheFormat {
        switch code {
        case 0: return .native
        case 1: return .fp8PerTensor(scale: kScale)
        case 2: return .fp8DeepSeek
        default:
            throw .invalid("kvFormat", expected: "0 (native), 1 (fp8_e4m3) or 2 (fp8_ds_mla)", given: "\(code)")
        }
    }
}

/// FlashMLA's `(tile_scheduler_metadata, num_splits)` pair as the library's metadata.
enum Metadata {
    /// Wraps the caller's tensors for `inputs`: the shape is the one the inputs need and the
    /// worker count the schedule's rows; the library checks the rest once, against the inputs.
    static func wrap(_ schedule: TensorView, _ splits: TensorView, for inputs: DecodeInputs) -> MLAMetadata {
        let parts = schedule.rank == 2 ? schedule.shape[0] : 0
        return MLAMetadata(shape: inputs.metadataShape(numSMParts: parts), callerTileSchedulerMetadata: schedule,
                           numSplits: splits)
    }
}
