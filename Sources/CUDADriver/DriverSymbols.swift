// DriverSymbols: the driver entry points resolved from libcuda.
/// One resolved (or missing) driver entry point: the name it was looked up by and, when found,
/// the C function pointer. A missing symbol only fails the call that needs it.
struct Symbol<Function>: @unchecked Sendable {
    /// The exported name that resolved, or the first candidate when none did.
    let name: String
    /// The C function pointer, or nil when the library does not export any candidate.
    let pointer: Function?

    /// Looks up the first of `candidates` that `resolve` finds.
    init(_ candidates: [String], _ resolve: (String) -> UnsafeMutableRawPointer?) {
        for candidate in candidates {
            if let raw = resolve(candidate) {
                name = candidate
                pointer = unsafeBitCast(raw, to: Function.self)
                return
            }
        }
        name = candidates.first ?? "?"
        pointer = nil
    }

    /// The function pointer, or `.missingSymbol` naming it.
    func get() throws(CUDAError) -> Function {
        guard let pointer else { throw .missingSymbol(name) }
        return pointer
    }
}

/// The driver's symbol table: every entry point this module uses, in one place. All are optional
/// at load time; `cuInit` is the only one `CUDADriver` insists on.
struct DriverSymbols: Sendable {
    let cuInit: Symbol<PFNInit>
    let cuDriverGetVersion: Symbol<PFNDriverGetVersion>
    let cuDeviceGetCount: Symbol<PFNDeviceGetCount>
    let cuDeviceGet: Symbol<PFNDeviceGet>
    let cuDeviceGetName: Symbol<PFNDeviceGetName>
    let cuDeviceGetAttribute: Symbol<PFNDeviceGetAttribute>
    let cuDeviceTotalMem: Symbol<PFNDeviceTotalMem>
    let cuDevicePrimaryCtxRetain: Symbol<PFNDevicePrimaryCtxRetain>
    let cuDevicePrimaryCtxRelease: Symbol<PFNDevicePrimaryCtxRelease>
    let cuCtxSetCurrent: Symbol<PFNCtxSetCurrent>
    let cuCtxGetCurrent: Symbol<PFNCtxGetCurrent>
    let cuCtxGetDevice: Symbol<PFNCtxGetDevice>
    let cuCtxSynchronize: Symbol<PFNCtxSynchronize>
    let cuStreamCreate: Symbol<PFNStreamCreate>
    let cuStreamDestroy: Symbol<PFNHandleOnly>
    let cuStreamSynchronize: Symbol<PFNHandleOnly>
    let cuStreamGetCtx: Symbol<PFNStreamGetCtx>
    let cuEventCreate: Symbol<PFNEventCreate>
    let cuEventDestroy: Symbol<PFNHandleOnly>
    let cuEventRecord: Symbol<PFNEventRecord>
    let cuEventSynchronize: Symbol<PFNHandleOnly>
    let cuEventElapsedTime: Symbol<PFNEventElapsedTime>
    let cuMemAlloc: Symbol<PFNMemAlloc>
    let cuMemFree: Symbol<PFNMemFree>
    let cuMemcpyHtoD: Symbol<PFNMemcpyHtoD>
    let cuMemcpyDtoH: Symbol<PFNMemcpyDtoH>
    let cuMemcpyDtoD: Symbol<PFNMemcpyDtoD>
    let cuMemcpyHtoDAsync: Symbol<PFNMemcpyHtoDAsync>
    let cuMemcpyDtoHAsync: Symbol<PFNMemcpyDtoHAsync>
    let cuMemcpyDtoDAsync: Symbol<PFNMemcpyDtoDAsync>
    let cuMemsetD8: Symbol<PFNMemsetD8>
    let cuMemsetD8Async: Symbol<PFNMemsetD8Async>
    let cuMemsetD32Async: Symbol<PFNMemsetD32Async>
    let cuModuleLoadData: Symbol<PFNModuleLoadData>
    let cuModuleUnload: Symbol<PFNHandleOnly>
    let cuModuleGetFunction: Symbol<PFNModuleGetFunction>
    let cuModuleGetGlobal: Symbol<PFNModuleGetGlobal>
    let cuFuncSetAttribute: Symbol<PFNFuncSetAttribute>
    let cuFuncGetAttribute: Symbol<PFNFuncGetAttribute>
    let cuLaunchKernel: Symbol<PFNLaunchKernel>
    let cuLaunchKernelEx: Symbol<PFNLaunchKernelEx>
    let cuGetErrorName: Symbol<PFNGetErrorText>
    let cuGetErrorString: Symbol<PFNGetErrorText>
    let cuPointerGetAttribute: Symbol<PFNPointerGetAttribute>
    let cuTensorMapEncodeTiled: Symbol<PFNTensorMapEncodeTiled>
    let cuStreamBeginCapture: Symbol<PFNStreamBeginCapture>
    let cuStreamEndCapture: Symbol<PFNStreamEndCapture>
    let cuStreamIsCapturing: Symbol<PFNStreamIsCapturing>
    let cuGraphInstantiateWithFlags: Symbol<PFNGraphInstantiateWithFlags>
    let cuGraphLaunch: Symbol<PFNEventRecord>
    let cuGraphExecDestroy: Symbol<PFNHandleOnly>
    let cuGraphDestroy: Symbol<PFNHandleOnly>

    /// Resolves every entry point through `resolve` (normally `dlsym` on the opened library).
    /// Where the header maps a name to a versioned export, the versioned name is tried first.
    init(resolve: (String) -> UnsafeMutableRawPointer?) {
        cuInit = Symbol(["cuInit"], resolve)
        cuDriverGetVersion = Symbol(["cuDriverGetVersion"], resolve)
        cuDeviceGetCount = Symbol(["cuDeviceGetCount"], resolve)
        cuDeviceGet = Symbol(["cuDeviceGet"], resolve)
        cuDeviceGetName = Symbol(["cuDeviceGetName"], resolve)
        cuDeviceGetAttribute = Symbol(["cuDeviceGetAttribute"], resolve)
        cuDeviceTotalMem = Symbol(["cuDeviceTotalMem_v2"], resolve)
        cuDevicePrimaryCtxRetain = Symbol(["cuDevicePrimaryCtxRetain"], resolve)
        cuDevicePrimaryCtxRelease = Symbol(["cuDevicePrimaryCtxRelease_v2"], resolve)
        cuCtxSetCurrent = Symbol(["cuCtxSetCurrent"], resolve)
        cuCtxGetCurrent = Symbol(["cuCtxGetCurrent"], resolve)
        cuCtxGetDevice = Symbol(["cuCtxGetDevice"], resolve)
        cuCtxSynchronize = Symbol(["cuCtxSynchronize"], resolve)
        cuStreamCreate = Symbol(["cuStreamCreate"], resolve)
        cuStreamDestroy = Symbol(["cuStreamDestroy_v2"], resolve)
        cuStreamSynchronize = Symbol(["cuStreamSynchronize"], resolve)
        cuStreamGetCtx = Symbol(["cuStreamGetCtx"], resolve)
        cuEventCreate = Symbol(["cuEventCreate"], resolve)
        cuEventDestroy = Symbol(["cuEventDestroy_v2"], resolve)
        cuEventRecord = Symbol(["cuEventRecord"], resolve)
        cuEventSynchronize = Symbol(["cuEventSynchronize"], resolve)
        cuEventElapsedTime = Symbol(["cuEventElapsedTime_v2", "cuEventElapsedTime"], resolve)
        cuMemAlloc = Symbol(["cuMemAlloc_v2"], resolve)
        cuMemFree = Symbol(["cuMemFree_v2"], resolve)
        cuMemcpyHtoD = Symbol(["cuMemcpyHtoD_v2"], resolve)
        cuMemcpyDtoH = Symbol(["cuMemcpyDtoH_v2"], resolve)
        cuMemcpyDtoD = Symbol(["cuMemcpyDtoD_v2"], resolve)
        cuMemcpyHtoDAsync = Symbol(["cuMemcpyHtoDAsync_v2"], resolve)
        cuMemcpyDtoHAsync = Symbol(["cuMemcpyDtoHAsync_v2"], resolve)
        cuMemcpyDtoDAsync = Symbol(["cuMemcpyDtoDAsync_v2"], resolve)
        cuMemsetD8 = Symbol(["cuMemsetD8_v2"], resolve)
        cuMemsetD8Async = Symbol(["cuMemsetD8Async"], resolve)
        cuMemsetD32Async = Symbol(["cuMemsetD32Async"], resolve)
        cuModuleLoadData = Symbol(["cuModuleLoadData"], resolve)
        cuModuleUnload = Symbol(["cuModuleUnload"], resolve)
        cuModuleGetFunction = Symbol(["cuModuleGetFunction"], resolve)
        cuModuleGetGlobal = Symbol(["cuModuleGetGlobal_v2"], resolve)
        cuFuncSetAttribute = Symbol(["cuFuncSetAttribute"], resolve)
        cuFuncGetAttribute = Symbol(["cuFuncGetAttribute"], resolve)
        cuLaunchKernel = Symbol(["cuLaunchKernel"], resolve)
        cuLaunchKernelEx = Symbol(["cuLaunchKernelEx"], resolve)
        cuGetErrorName = Symbol(["cuGetErrorName"], resolve)
        cuGetErrorString = Symbol(["cuGetErrorString"], resolve)
        cuPointerGetAttribute = Symbol(["cuPointerGetAttribute"], resolve)
        cuTensorMapEncodeTiled = Symbol(["cuTensorMapEncodeTiled"], resolve)
        cuStreamBeginCapture = Symbol(["cuStreamBeginCapture_v2"], resolve)
        cuStreamEndCapture = Symbol(["cuStreamEndCapture"], resolve)
        cuStreamIsCapturing = Symbol(["cuStreamIsCapturing"], resolve)
        cuGraphInstantiateWithFlags = Symbol(["cuGraphInstantiateWithFlags"], resolve)
        cuGraphLaunch = Symbol(["cuGraphLaunch"], resolve)
        cuGraphExecDestroy = Symbol(["cuGraphExecDestroy"], resolve)
        cuGraphDestroy = Symbol(["cuGraphDestroy"], resolve)
    }
}
