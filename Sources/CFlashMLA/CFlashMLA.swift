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
        let engine = try Devices.engine(Devices.backend(device)) { () throws(MLAError) in
            try MetadataRequest.checkHeads(rowsPerKVHead: rows, kvHeads: kvHeads)
        }
        let parts = try library { () throws(MLAError) in try engine.numSMParts(rowsPerKVHead: rows, kvHeads: kvHeads) }
        numSMPartsOut.pointee = Int64(parts)
    }
}

/// Checks the arguments of `flashmla_swift_get_metadata` but its outputs, without a device. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_validate_metadata")
public func flashmla_swift_validate_metadata(
    _ device: Int32, _ cacheSeqlens: UnsafeRawPointer?, _ numHeadsPerHeadK: Int64, _ numHeadsK: Int64
) -> Int32 {
    abiCall { () throws(ABIFailure) in
        let backend = try Devices.backend(device)
        let seqlens = try TensorDescriptor.view(cacheSeqlens, "cacheSeqlens", backend: backend)
        _ = try library { () throws(MLAError) in
            try MetadataRequest(cacheSeqlens: seqlens, rowsPerKVHead: Int(numHeadsPerHeadK), kvHeads: Int(numHeadsK),
                                backend: backend)
        }
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
        let backend = try Devices.backend(device)
        let seqlens = try TensorDescriptor.view(cacheSeqlens, "cacheSeqlens", backend: backend)
        let request = try library { () throws(MLAError) in
            try MetadataRequest(cacheSeqlens: seqlens, rowsPerKVHead: Int(numHeadsPerHeadK), kvHeads: Int(numHeadsK),
                                backend: backend)
        }
        try scheduleInto(request, stream: stream, tileSchedulerMetadata, numSplits)
    }
}

/// The schedule of a sparse decode into caller-allocated int32 tensors, queued on `stream`. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_get_sparse_metadata")
public func flashmla_swift_get_sparse_metadata(
    _ device: Int32, _ stream: UnsafeMutableRawPointer?,
    _ indices: UnsafeRawPointer?, _ topkLength: UnsafeRawPointer?, _ numHeadsQ: Int64,
    _ tileSchedulerMetadata: UnsafeRawPointer?, _ numSplits: UnsafeRawPointer?
) -> Int32 {
    flashmla_swift_get_sparse_metadata_v2(device, stream, indices, topkLength, nil, nil, numHeadsQ,
                                          tileSchedulerMetadata, numSplits)
}

/// `flashmla_swift_get_sparse_metadata` with an extra cache's lists (MODEL1): each request scheduled
/// as its main list padded to 64-entry blocks, then its extra list. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_get_sparse_metadata_v2")
public func flashmla_swift_get_sparse_metadata_v2(
    _ device: Int32, _ stream: UnsafeMutableRawPointer?,
    _ indices: UnsafeRawPointer?, _ topkLength: UnsafeRawPointer?,
    _ extraIndices: UnsafeRawPointer?, _ extraTopkLength: UnsafeRawPointer?, _ numHeadsQ: Int64,
    _ tileSchedulerMetadata: UnsafeRawPointer?, _ numSplits: UnsafeRawPointer?
) -> Int32 {
    abiCall { () throws(ABIFailure) in
        let backend = try Devices.backend(device)
        let sparse = try TensorDescriptor.sparse(indices, topkLength, backend: backend)
        let extraLists = try TensorDescriptor.optionalView(extraIndices, "extraIndices", backend: backend)
        let extraLengths = try TensorDescriptor.optionalView(extraTopkLength, "extraTopkLength", backend: backend)
        guard (1 ... Int64(Int32.max)).contains(numHeadsQ) else {
            throw .invalid("numHeadsQ", expected: "1...\(Int32.max)", given: "\(numHeadsQ)")
        }
        let queryRows = sparse.indices.rank == 3 ? sparse.indices.shape[1] * Int(numHeadsQ) : 0
        if let extraLists {
            for (view, name) in [(sparse.indices, "indices"), (extraLists, "extraIndices")] where view.rank != 3 {
                throw .invalid(name, expected: "rank 3 [b, s_q, \(name == "indices" ? "topk" : "extra_topk")]",
                               given: "rank \(view.rank) \(view.shapeDescription)")
            }
        }
        let request = try library { () throws(MLAError) in
            guard let extraLists else {
                guard extraLengths == nil else {
                    throw .invalidArgument(argument: "extraTopkLength", expected: "NULL without extraIndices", given: "a tensor")
                }
                return try MetadataRequest(sparse: sparse, queryRows: queryRows, backend: backend)
            }
            return try MetadataRequest(topkLength: sparse.topkLength, batchSize: sparse.indices.shape[0], topk: sparse.topk,
                                       extraTopkLength: extraLengths, extraTopk: extraLists.shape[2], queryRows: queryRows,
                                       backend: backend)
        }
        try scheduleInto(request, stream: stream, tileSchedulerMetadata, numSplits)
    }
}

/// Checks the inputs of a dense decode call (and its metadata when given), without outputs or a device. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_validate_decode")
public func flashmla_swift_validate_decode(
    _ device: Int32, _ q: UnsafeRawPointer?, _ kCache: UnsafeRawPointer?, _ blockTable: UnsafeRawPointer?,
    _ cacheSeqlens: UnsafeRawPointer?, _ tileSchedulerMetadata: UnsafeRawPointer?, _ numSplits: UnsafeRawPointer?,
    _ headDimV: Int64, _ softmaxScale: Float, _ causal: Int32, _ kvFormat: Int32, _ kScale: Float,
    _ attnSink: UnsafeRawPointer?
) -> Int32 {
    abiCall { () throws(ABIFailure) in
        let backend = try Devices.backend(device)
        let inputs = try DenseCall(q, kCache, blockTable, cacheSeqlens, headDimV, softmaxScale, causal, kvFormat, kScale,
                                   attnSink, backend: backend).inputs()
        try Metadata.check(tileSchedulerMetadata, numSplits, for: inputs)
    }
}

/// Checks the inputs of a sparse decode call (and its metadata when given), without outputs or a device. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_validate_sparse_decode")
public func flashmla_swift_validate_sparse_decode(
    _ device: Int32, _ q: UnsafeRawPointer?, _ kCache: UnsafeRawPointer?, _ indices: UnsafeRawPointer?,
    _ topkLength: UnsafeRawPointer?, _ tileSchedulerMetadata: UnsafeRawPointer?, _ numSplits: UnsafeRawPointer?,
    _ headDimV: Int64, _ softmaxScale: Float, _ kvFormat: Int32, _ attnSink: UnsafeRawPointer?
) -> Int32 {
    flashmla_swift_validate_sparse_decode_v2(device, q, kCache, indices, topkLength, nil, nil, nil,
                                             tileSchedulerMetadata, numSplits, headDimV, softmaxScale, kvFormat, attnSink)
}

/// `flashmla_swift_validate_sparse_decode` with an extra cache and its lists. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_validate_sparse_decode_v2")
public func flashmla_swift_validate_sparse_decode_v2(
    _ device: Int32, _ q: UnsafeRawPointer?, _ kCache: UnsafeRawPointer?, _ indices: UnsafeRawPointer?,
    _ topkLength: UnsafeRawPointer?, _ extraKCache: UnsafeRawPointer?, _ extraIndices: UnsafeRawPointer?,
    _ extraTopkLength: UnsafeRawPointer?, _ tileSchedulerMetadata: UnsafeRawPointer?, _ numSplits: UnsafeRawPointer?,
    _ headDimV: Int64, _ softmaxScale: Float, _ kvFormat: Int32, _ attnSink: UnsafeRawPointer?
) -> Int32 {
    abiCall { () throws(ABIFailure) in
        let backend = try Devices.backend(device)
        let inputs = try SparseCall(q, kCache, indices, topkLength, extraKCache, extraIndices, extraTopkLength, headDimV,
                                    softmaxScale, kvFormat, attnSink, backend: backend).inputs()
        try Metadata.check(tileSchedulerMetadata, numSplits, for: inputs)
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
    flashmla_swift_decode_kv_sink(device, stream, q, kCache, blockTable, cacheSeqlens, tileSchedulerMetadata, numSplits,
                                  headDimV, softmaxScale, causal, KVFormatCode.native, 1, nil, out, lse, workspace)
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
    flashmla_swift_decode_kv_sink(device, stream, q, kCache, blockTable, cacheSeqlens, tileSchedulerMetadata, numSplits,
                                  headDimV, softmaxScale, causal, kvFormat, kScale, nil, out, lse, workspace)
}

/// `flashmla_swift_decode_kv` with FlashMLA's `attn_sink` (float32 [h_q], or NULL). See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_decode_kv_sink")
public func flashmla_swift_decode_kv_sink(
    _ device: Int32, _ stream: UnsafeMutableRawPointer?,
    _ q: UnsafeRawPointer?, _ kCache: UnsafeRawPointer?, _ blockTable: UnsafeRawPointer?,
    _ cacheSeqlens: UnsafeRawPointer?, _ tileSchedulerMetadata: UnsafeRawPointer?, _ numSplits: UnsafeRawPointer?,
    _ headDimV: Int64, _ softmaxScale: Float, _ causal: Int32, _ kvFormat: Int32, _ kScale: Float,
    _ attnSink: UnsafeRawPointer?,
    _ out: UnsafeRawPointer?, _ lse: UnsafeRawPointer?, _ workspace: OpaquePointer?
) -> Int32 {
    abiCall { () throws(ABIFailure) in
        let backend = try Devices.backend(device)
        let inputs = try DenseCall(q, kCache, blockTable, cacheSeqlens, headDimV, softmaxScale, causal, kvFormat, kScale,
                                   attnSink, backend: backend).inputs()
        try Decode.run(inputs, tileSchedulerMetadata, numSplits, out, lse, stream: stream, workspace: workspace)
    }
}

/// Sparse decoding (FlashMLA's `indices`, `topk_length`, `attn_sink`) into caller-allocated
/// `out` and `lse`, queued on `stream`. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_decode_sparse")
public func flashmla_swift_decode_sparse(
    _ device: Int32, _ stream: UnsafeMutableRawPointer?,
    _ q: UnsafeRawPointer?, _ kCache: UnsafeRawPointer?, _ indices: UnsafeRawPointer?, _ topkLength: UnsafeRawPointer?,
    _ tileSchedulerMetadata: UnsafeRawPointer?, _ numSplits: UnsafeRawPointer?,
    _ headDimV: Int64, _ softmaxScale: Float, _ kvFormat: Int32, _ attnSink: UnsafeRawPointer?,
    _ out: UnsafeRawPointer?, _ lse: UnsafeRawPointer?, _ workspace: OpaquePointer?
) -> Int32 {
    flashmla_swift_decode_sparse_v2(device, stream, q, kCache, indices, topkLength, nil, nil, nil, tileSchedulerMetadata,
                                    numSplits, headDimV, softmaxScale, kvFormat, attnSink, out, lse, workspace)
}

/// `flashmla_swift_decode_sparse` with FlashMLA's extra cache (`extra_k_cache`,
/// `extra_indices_in_kvcache`, `extra_topk_length`; MODEL1). See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_decode_sparse_v2")
public func flashmla_swift_decode_sparse_v2(
    _ device: Int32, _ stream: UnsafeMutableRawPointer?,
    _ q: UnsafeRawPointer?, _ kCache: UnsafeRawPointer?, _ indices: UnsafeRawPointer?, _ topkLength: UnsafeRawPointer?,
    _ extraKCache: UnsafeRawPointer?, _ extraIndices: UnsafeRawPointer?, _ extraTopkLength: UnsafeRawPointer?,
    _ tileSchedulerMetadata: UnsafeRawPointer?, _ numSplits: UnsafeRawPointer?,
    _ headDimV: Int64, _ softmaxScale: Float, _ kvFormat: Int32, _ attnSink: UnsafeRawPointer?,
    _ out: UnsafeRawPointer?, _ lse: UnsafeRawPointer?, _ workspace: OpaquePointer?
) -> Int32 {
    abiCall { () throws(ABIFailure) in
        let backend = try Devices.backend(device)
        let inputs = try SparseCall(q, kCache, indices, topkLength, extraKCache, extraIndices, extraTopkLength, headDimV,
                                    softmaxScale, kvFormat, attnSink, backend: backend).inputs()
        try Decode.run(inputs, tileSchedulerMetadata, numSplits, out, lse, stream: stream, workspace: workspace)
    }
}

/// A new split-accumulator workspace on `device`, returned through `workspaceOut`. See `include/flashmla_swift.h`.
@_cdecl("flashmla_swift_workspace_create")
public func flashmla_swift_workspace_create(_ device: Int32, _ workspaceOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    abiCall { () throws(ABIFailure) in
        guard let workspaceOut else {
            throw .invalid("workspaceOut", expected: "a pointer to a flashmla_swift_workspace *", given: "NULL")
        }
        guard case let .cuda(ordinal) = try Devices.backend(device) else {
            throw .invalid("device", expected: "a CUDA device ordinal >= 0 (the CPU device needs no workspace)",
                           given: "\(device)")
        }
        let engine = try Devices.engine(.cuda(device: ordinal))
        let workspace = try library { () throws(MLAError) in try Workspace(device: engine.cudaBackend!.device) }
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

/// The backend of a device argument, and its engine with failures sorted into the ABI's codes.
enum Devices {
    /// `FLASHMLA_SWIFT_DEVICE_CPU`: host memory and the library's CPU backend.
    static let cpu: Int32 = -1

    /// The backend `device` names: the CPU for `FLASHMLA_SWIFT_DEVICE_CPU`, else a CUDA ordinal
    /// (`>= 0`); any other value is an invalid-argument failure.
    static func backend(_ device: Int32) throws(ABIFailure) -> Backend {
        if device == cpu { return .cpu }
        guard device >= 0 else {
            throw .invalid("device", expected: "a CUDA device ordinal >= 0, or -1 (FLASHMLA_SWIFT_DEVICE_CPU)",
                           given: "\(device)")
        }
        return .cuda(device: Int(device))
    }

    /// An engine on `backend`. Where a CUDA device cannot be used (no driver, no such device, a
    /// device too old), `check` runs first, so that a call's argument errors that need no device
    /// are reported the same with or without one.
    static func engine(_ backend: Backend, check: () throws(MLAError) -> Void = {}) throws(ABIFailure) -> MLAEngine {
        do {
            return try MLAEngine(backend: backend)
        } catch {
            try library(check)
            guard case let .cuda(ordinal) = backend else { throw ABIFailure(error) }
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

    /// The stream a call queues its work on: the caller's `CUstream` on CUDA (NULL is the legacy
    /// default stream), nil on the CPU (which computes before returning).
    static func stream(_ address: UnsafeMutableRawPointer?, _ engine: MLAEngine) -> ExecutionStream? {
        guard let cuda = engine.cudaBackend else { return nil }
        return Stream(borrowingAddress: UInt(bitPattern: address), device: cuda.device)
    }
}

/// The schedule of a validated request into the caller's tensors, on the engine of its backend.
func scheduleInto(_ request: MetadataRequest, stream: UnsafeMutableRawPointer?,
                  _ tileSchedulerMetadata: UnsafeRawPointer?, _ numSplits: UnsafeRawPointer?) throws(ABIFailure) {
    let schedule = try TensorDescriptor.view(tileSchedulerMetadata, "tileSchedulerMetadata", backend: request.backend)
    let splits = try TensorDescriptor.view(numSplits, "numSplits", backend: request.backend)
    let engine = try Devices.engine(request.backend) { () throws(MLAError) in
        try request.checkOutputs(tileSchedulerMetadata: schedule, numSplits: splits, numSMParts: nil)
    }
    _ = try library { () throws(MLAError) in
        try engine.getMLAMetadata(request, tileSchedulerMetadata: schedule, numSplits: splits,
                                  stream: Devices.stream(stream, engine))
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
        case 3: return .fp8Model1
        default:
            throw .invalid("kvFormat", expected: "0 (native), 1 (fp8_e4m3), 2 (fp8_ds_mla) or 3 (model1)", given: "\(code)")
        }
    }
}

/// The arguments of a dense decode call (`flashmla_swift_decode_kv_sink`, `_validate_decode`) but
/// its schedule and outputs, as the library's views.
struct DenseCall {
    let q, kCache, blockTable, cacheSeqlens: TensorView
    let attnSink: TensorView?
    let headDimV: Int, softmaxScale: Float, causal: Bool, format: KVCacheFormat, backend: Backend

    init(_ q: UnsafeRawPointer?, _ kCache: UnsafeRawPointer?, _ blockTable: UnsafeRawPointer?,
         _ cacheSeqlens: UnsafeRawPointer?, _ headDimV: Int64, _ softmaxScale: Float, _ causal: Int32,
         _ kvFormat: Int32, _ kScale: Float, _ attnSink: UnsafeRawPointer?, backend: Backend) throws(ABIFailure) {
        format = try KVFormatCode.format(kvFormat, kScale: kScale)
        self.q = try TensorDescriptor.view(q, "q", backend: backend)
        self.kCache = try TensorDescriptor.view(kCache, "kCache", backend: backend)
        self.blockTable = try TensorDescriptor.view(blockTable, "blockTable", backend: backend)
        self.cacheSeqlens = try TensorDescriptor.view(cacheSeqlens, "cacheSeqlens", backend: backend)
        self.attnSink = try TensorDescriptor.optionalView(attnSink, "attnSink", backend: backend)
        self.headDimV = Int(clamping: headDimV)
        self.softmaxScale = softmaxScale
        self.causal = causal != 0
        self.backend = backend
    }

    /// The library's validation of these inputs.
    func inputs() throws(ABIFailure) -> DecodeInputs {
        try library { () throws(MLAError) in
            try DecodeInputs(q: q, kCache: kCache, blockTable: blockTable, cacheSeqlens: cacheSeqlens, headDimV: headDimV,
                             softmaxScale: softmaxScale, causal: causal, kvFormat: format, attnSink: attnSink,
                             backend: backend)
        }
    }
}

/// The arguments of a sparse decode call (`flashmla_swift_decode_sparse`,
/// `_validate_sparse_decode`) but its schedule and outputs, as the library's views.
struct SparseCall {
    let q, kCache: TensorView
    let sparse: SparseIndices
    let attnSink: TensorView?
    let headDimV: Int, softmaxScale: Float, format: KVCacheFormat, backend: Backend

    init(_ q: UnsafeRawPointer?, _ kCache: UnsafeRawPointer?, _ indices: UnsafeRawPointer?,
         _ topkLength: UnsafeRawPointer?, _ extraKCache: UnsafeRawPointer?, _ extraIndices: UnsafeRawPointer?,
         _ extraTopkLength: UnsafeRawPointer?, _ headDimV: Int64, _ softmaxScale: Float, _ kvFormat: Int32,
         _ attnSink: UnsafeRawPointer?, backend: Backend) throws(ABIFailure) {
        format = try KVFormatCode.format(kvFormat, kScale: 1)
        self.q = try TensorDescriptor.view(q, "q", backend: backend)
        self.kCache = try TensorDescriptor.view(kCache, "kCache", backend: backend)
        var sparse = try TensorDescriptor.sparse(indices, topkLength, backend: backend)
        sparse.extraKCache = try TensorDescriptor.optionalView(extraKCache, "extraKCache", backend: backend)
        sparse.extraIndices = try TensorDescriptor.optionalView(extraIndices, "extraIndices", backend: backend)
        sparse.extraTopkLength = try TensorDescriptor.optionalView(extraTopkLength, "extraTopkLength", backend: backend)
        self.sparse = sparse
        self.attnSink = try TensorDescriptor.optionalView(attnSink, "attnSink", backend: backend)
        self.headDimV = Int(clamping: headDimV)
        self.softmaxScale = softmaxScale
        self.backend = backend
    }

    /// The library's validation of these inputs.
    func inputs() throws(ABIFailure) -> DecodeInputs {
        try library { () throws(MLAError) in
            try DecodeInputs(q: q, kCache: kCache, indices: sparse, headDimV: headDimV, softmaxScale: softmaxScale,
                             kvFormat: format, attnSink: attnSink, backend: backend)
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

    /// Checks the caller's metadata against `inputs` when it is given (both pointers non-NULL;
    /// both NULL: nothing to check; one alone is an error).
    static func check(_ schedule: UnsafeRawPointer?, _ splits: UnsafeRawPointer?, for inputs: DecodeInputs) throws(ABIFailure) {
        guard schedule != nil || splits != nil else { return }
        let scheduleView = try TensorDescriptor.view(schedule, "tileSchedulerMetadata", backend: inputs.backend)
        let splitsView = try TensorDescriptor.view(splits, "numSplits", backend: inputs.backend)
        try library { () throws(MLAError) in try inputs.checkMetadata(wrap(scheduleView, splitsView, for: inputs)) }
    }
}

/// A decode call after its inputs are validated: the schedule and outputs are checked (once,
/// in ``DecodeProblem``), then it runs on the engine of the inputs' backend.
enum Decode {
    static func run(_ inputs: DecodeInputs, _ tileSchedulerMetadata: UnsafeRawPointer?, _ numSplits: UnsafeRawPointer?,
                    _ out: UnsafeRawPointer?, _ lse: UnsafeRawPointer?,
                    stream: UnsafeMutableRawPointer?, workspace: OpaquePointer?) throws(ABIFailure) {
        let backend = inputs.backend
        let schedule = try TensorDescriptor.view(tileSchedulerMetadata, "tileSchedulerMetadata", backend: backend)
        let splits = try TensorDescriptor.view(numSplits, "numSplits", backend: backend)
        let outView = try TensorDescriptor.view(out, "out", backend: backend)
        let lseView = try TensorDescriptor.view(lse, "lse", backend: backend)
        let problem = try library { () throws(MLAError) in
            try DecodeProblem(inputs, metadata: Metadata.wrap(schedule, splits, for: inputs), out: outView, lse: lseView)
        }
        if backend == .cpu, workspace != nil {
            throw .invalid("workspace", expected: "NULL on the CPU device", given: "a workspace")
        }
        let workspaceObject = workspace.map { Unmanaged<Workspace>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
        let engine = try Devices.engine(backend)
        try library { () throws(MLAError) in
            try engine.flashMLAWithKVCache(problem, workspace: workspaceObject, stream: Devices.stream(stream, engine))
        }
    }
}
