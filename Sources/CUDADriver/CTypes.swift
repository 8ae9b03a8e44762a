// Hand-written mirrors of the few cuda.h types and constants this module needs.
// Nothing here includes or links a CUDA header; every number was checked against cuda.h
// (CUDA 12.x/13.x). Enumerations in C are 4-byte integers on every supported ABI, so they
// are passed as Int32/UInt32.

/// `CUresult`: the status code every driver entry point returns (0 is `CUDA_SUCCESS`).
typealias CUresult = Int32
/// `CUdevice`: a device handle (an ordinal in practice).
typealias CUdevice = Int32
/// `CUdeviceptr`: a device address (64-bit on every supported platform).
typealias CUdeviceptr = UInt64
/// `CUcontext`, `CUstream`, `CUevent`, `CUmodule`, `CUfunction`: opaque handles.
typealias CUhandle = OpaquePointer

/// Numeric constants from cuda.h, grouped by the C enumeration they belong to.
enum CUConstant {
    /// `CUDA_SUCCESS`.
    static let success: CUresult = 0

    // CUdevice_attribute
    static let deviceAttributeMaxThreadsPerBlock: Int32 = 1
    static let deviceAttributeMaxSharedMemoryPerBlock: Int32 = 8
    static let deviceAttributeWarpSize: Int32 = 10
    static let deviceAttributeMultiprocessorCount: Int32 = 16
    static let deviceAttributeL2CacheSize: Int32 = 38
    static let deviceAttributeMaxThreadsPerMultiprocessor: Int32 = 39
    static let deviceAttributeComputeCapabilityMajor: Int32 = 75
    static let deviceAttributeComputeCapabilityMinor: Int32 = 76
    static let deviceAttributeMaxSharedMemoryPerMultiprocessor: Int32 = 81
    static let deviceAttributeMaxSharedMemoryPerBlockOptin: Int32 = 97
    static let deviceAttributeClusterLaunch: Int32 = 120

    // CUpointer_attribute
    static let pointerAttributeDeviceOrdinal: Int32 = 9

    // CUstream_flags
    static let streamNonBlocking: UInt32 = 0x1
    // CUevent_flags
    static let eventDefault: UInt32 = 0x0

    // CUlaunchAttributeID
    static let launchAttributeClusterDimension: UInt32 = 4
    static let launchAttributeProgrammaticStreamSerialization: UInt32 = 6
}

/// Mirror of `CUlaunchAttribute` (cuda.h):
/// `{ CUlaunchAttributeID id; char pad[8 - sizeof(CUlaunchAttributeID)]; CUlaunchAttributeValue value; }`
/// where `CUlaunchAttributeValue` is a 64-byte union that holds pointers (so 8-byte aligned).
/// C layout: id at 0, value at 8, sizeof 72, alignof 8.
struct CULaunchAttributeMirror {
    /// `CUlaunchAttributeID`.
    var id: UInt32 = 0
    /// The explicit padding the header declares.
    var pad: UInt32 = 0
    /// The 64-byte `CUlaunchAttributeValue` union, as eight 8-byte words.
    var value: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)

    /// Writes consecutive 32-bit words at the start of the value union
    /// (`clusterDim.{x,y,z}`, `programmaticStreamSerializationAllowed`, ...).
    mutating func setValueWords(_ words: [UInt32]) {
        precondition(words.count <= 16)
        withUnsafeMutableBytes(of: &value) { raw in
            for (index, word) in words.enumerated() {
                raw.storeBytes(of: word, toByteOffset: index * 4, as: UInt32.self)
            }
        }
    }

    /// The attribute for `CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION`.
    static func clusterDimension(x: UInt32, y: UInt32, z: UInt32) -> CULaunchAttributeMirror {
        var attribute = CULaunchAttributeMirror(id: CUConstant.launchAttributeClusterDimension)
        attribute.setValueWords([x, y, z])
        return attribute
    }

    /// The attribute for `CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION`.
    static func programmaticStreamSerialization(_ allowed: Bool) -> CULaunchAttributeMirror {
        var attribute = CULaunchAttributeMirror(id: CUConstant.launchAttributeProgrammaticStreamSerialization)
        attribute.setValueWords([allowed ? 1 : 0])
        return attribute
    }
}

/// Mirror of `CUlaunchConfig` (cuda.h):
/// `{ unsigned gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes;
///    CUstream hStream; CUlaunchAttribute *attrs; unsigned numAttrs; }`.
/// C layout on LP64: hStream at 32, attrs at 40, numAttrs at 48, sizeof 56 (tail padding made
/// explicit here so `MemoryLayout.size` equals the C `sizeof`).
struct CULaunchConfigMirror {
    var gridDimX: UInt32 = 1
    var gridDimY: UInt32 = 1
    var gridDimZ: UInt32 = 1
    var blockDimX: UInt32 = 1
    var blockDimY: UInt32 = 1
    var blockDimZ: UInt32 = 1
    var sharedMemBytes: UInt32 = 0
    var hStream: OpaquePointer? = nil
    var attrs: UnsafeMutableRawPointer? = nil
    var numAttrs: UInt32 = 0
    var tailPadding: UInt32 = 0
}

// MARK: - C function types of the entry points

typealias PFNInit = @convention(c) (UInt32) -> CUresult
typealias PFNDriverGetVersion = @convention(c) (UnsafeMutablePointer<Int32>?) -> CUresult
typealias PFNDeviceGetCount = @convention(c) (UnsafeMutablePointer<Int32>?) -> CUresult
typealias PFNDeviceGet = @convention(c) (UnsafeMutablePointer<CUdevice>?, Int32) -> CUresult
typealias PFNDeviceGetName = @convention(c) (UnsafeMutablePointer<CChar>?, Int32, CUdevice) -> CUresult
typealias PFNDeviceGetAttribute = @convention(c) (UnsafeMutablePointer<Int32>?, Int32, CUdevice) -> CUresult
typealias PFNDeviceTotalMem = @convention(c) (UnsafeMutablePointer<Int>?, CUdevice) -> CUresult
typealias PFNDevicePrimaryCtxRetain = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?, CUdevice) -> CUresult
typealias PFNDevicePrimaryCtxRelease = @convention(c) (CUdevice) -> CUresult
typealias PFNCtxSetCurrent = @convention(c) (OpaquePointer?) -> CUresult
typealias PFNCtxGetCurrent = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?) -> CUresult
typealias PFNCtxGetDevice = @convention(c) (UnsafeMutablePointer<CUdevice>?) -> CUresult
typealias PFNCtxSynchronize = @convention(c) () -> CUresult
typealias PFNStreamCreate = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?, UInt32) -> CUresult
typealias PFNHandleOnly = @convention(c) (OpaquePointer?) -> CUresult
/// cuStreamBeginCapture_v2(CUstream, CUstreamCaptureMode)
typealias PFNStreamBeginCapture = @convention(c) (OpaquePointer?, Int32) -> CUresult
/// cuStreamIsCapturing(CUstream, CUstreamCaptureStatus*)
typealias PFNStreamIsCapturing = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?) -> CUresult
/// cuStreamEndCapture(CUstream, CUgraph*)
typealias PFNStreamEndCapture = @convention(c) (OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?) -> CUresult
/// cuGraphInstantiateWithFlags(CUgraphExec*, CUgraph, unsigned long long flags)
typealias PFNGraphInstantiateWithFlags = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?, OpaquePointer?, UInt64) -> CUresult
typealias PFNStreamGetCtx = @convention(c) (OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?) -> CUresult
typealias PFNEventCreate = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?, UInt32) -> CUresult
typealias PFNEventRecord = @convention(c) (OpaquePointer?, OpaquePointer?) -> CUresult
typealias PFNEventElapsedTime = @convention(c) (UnsafeMutablePointer<Float>?, OpaquePointer?, OpaquePointer?) -> CUresult
typealias PFNMemAlloc = @convention(c) (UnsafeMutablePointer<CUdeviceptr>?, Int) -> CUresult
typealias PFNMemFree = @convention(c) (CUdeviceptr) -> CUresult
typealias PFNMemcpyHtoD = @convention(c) (CUdeviceptr, UnsafeRawPointer?, Int) -> CUresult
typealias PFNMemcpyDtoH = @convention(c) (UnsafeMutableRawPointer?, CUdeviceptr, Int) -> CUresult
typealias PFNMemcpyDtoD = @convention(c) (CUdeviceptr, CUdeviceptr, Int) -> CUresult
typealias PFNMemcpyHtoDAsync = @convention(c) (CUdeviceptr, UnsafeRawPointer?, Int, OpaquePointer?) -> CUresult
typealias PFNMemcpyDtoHAsync = @convention(c) (UnsafeMutableRawPointer?, CUdeviceptr, Int, OpaquePointer?) -> CUresult
typealias PFNMemcpyDtoDAsync = @convention(c) (CUdeviceptr, CUdeviceptr, Int, OpaquePointer?) -> CUresult
typealias PFNMemsetD8 = @convention(c) (CUdeviceptr, UInt8, Int) -> CUresult
typealias PFNMemsetD8Async = @convention(c) (CUdeviceptr, UInt8, Int, OpaquePointer?) -> CUresult
typealias PFNMemsetD32Async = @convention(c) (CUdeviceptr, UInt32, Int, OpaquePointer?) -> CUresult
typealias PFNModuleLoadData = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?, UnsafeRawPointer?) -> CUresult
typealias PFNModuleGetFunction = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?, OpaquePointer?, UnsafePointer<CChar>?) -> CUresult
typealias PFNModuleGetGlobal = @convention(c) (UnsafeMutablePointer<CUdeviceptr>?, UnsafeMutablePointer<Int>?, OpaquePointer?,
                                               UnsafePointer<CChar>?) -> CUresult
typealias PFNFuncSetAttribute = @convention(c) (OpaquePointer?, Int32, Int32) -> CUresult
typealias PFNFuncGetAttribute = @convention(c) (UnsafeMutablePointer<Int32>?, Int32, OpaquePointer?) -> CUresult
typealias PFNLaunchKernel = @convention(c) (
    OpaquePointer?,
    UInt32, UInt32, UInt32,
    UInt32, UInt32, UInt32,
    UInt32, OpaquePointer?,
    UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> CUresult
/// `cuLaunchKernelEx(const CUlaunchConfig*, CUfunction, void**, void**)`; the config travels
/// as a raw pointer because Swift structs are not C-representable in a C function type.
typealias PFNLaunchKernelEx = @convention(c) (
    UnsafeRawPointer?,
    OpaquePointer?,
    UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> CUresult
typealias PFNGetErrorText = @convention(c) (CUresult, UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> CUresult
typealias PFNPointerGetAttribute = @convention(c) (UnsafeMutableRawPointer?, Int32, CUdeviceptr) -> CUresult
typealias PFNTensorMapEncodeTiled = @convention(c) (
    UnsafeMutableRawPointer?,         // CUtensorMap* tensorMap
    UInt32,                           // CUtensorMapDataType
    UInt32,                           // cuuint32_t tensorRank
    UnsafeMutableRawPointer?,         // void* globalAddress
    UnsafePointer<UInt64>?,           // const cuuint64_t* globalDim
    UnsafePointer<UInt64>?,           // const cuuint64_t* globalStrides
    UnsafePointer<UInt32>?,           // const cuuint32_t* boxDim
    UnsafePointer<UInt32>?,           // const cuuint32_t* elementStrides
    UInt32,                           // CUtensorMapInterleave
    UInt32,                           // CUtensorMapSwizzle
    UInt32,                           // CUtensorMapL2promotion
    UInt32                            // CUtensorMapFloatOOBfill
) -> CUresult
