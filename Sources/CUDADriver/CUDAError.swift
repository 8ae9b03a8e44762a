// CUDAError: everything that can go wrong talking to the driver, and CUresult names.
/// Everything that can go wrong talking to the CUDA driver.
public enum CUDAError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No driver library could be opened. `tried` lists the names given to `dlopen`;
    /// `reason` is what `dlerror` said about the last attempt.
    case libraryNotFound(tried: [String], reason: String)
    /// The driver library does not export an entry point this operation needs.
    case missingSymbol(String)
    /// A driver call returned a status other than `CUDA_SUCCESS`.
    /// `function` is the exported entry point (e.g. `cuMemAlloc_v2`), `code` the `CUresult`,
    /// `name` its enumerator name (e.g. `CUDA_ERROR_OUT_OF_MEMORY`) and `message` the driver's text.
    case call(function: String, code: Int32, name: String, message: String)
    /// A caller-side mistake caught before reaching the driver (out-of-range copy, bad rank, ...).
    case invalidArgument(String)

    /// A one-line, human-readable account, e.g.
    /// `cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory`.
    public var description: String {
        switch self {
        case let .libraryNotFound(tried, reason):
            return "CUDA driver library not found (tried \(tried.joined(separator: ", "))): \(reason)"
        case let .missingSymbol(symbol):
            return "CUDA driver entry point \(symbol) not found in the loaded library"
        case let .call(function, code, name, message):
            return "\(function) failed: \(name) (\(code)): \(message)"
        case let .invalidArgument(text):
            return "invalid argument: \(text)"
        }
    }

    /// The `CUresult` of a failed call, or nil for the other cases.
    public var resultCode: Int32? {
        if case let .call(_, code, _, _) = self { return code }
        return nil
    }
}

/// Names and messages for common `CUresult` values, used when the driver cannot supply them
/// (its `cuGetErrorName`/`cuGetErrorString` missing or failing).
enum CUResultNames {
    /// Enumerator name and short message for the codes this module is most likely to meet.
    static let known: [Int32: (name: String, message: String)] = [
        0: ("CUDA_SUCCESS", "no error"),
        1: ("CUDA_ERROR_INVALID_VALUE", "invalid argument"),
        2: ("CUDA_ERROR_OUT_OF_MEMORY", "out of memory"),
        3: ("CUDA_ERROR_NOT_INITIALIZED", "initialization error"),
        4: ("CUDA_ERROR_DEINITIALIZED", "driver shutting down"),
        100: ("CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"),
        101: ("CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"),
        200: ("CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"),
        201: ("CUDA_ERROR_INVALID_CONTEXT", "invalid device context"),
        209: ("CUDA_ERROR_NO_BINARY_FOR_GPU", "no kernel image is available for execution on the device"),
        218: ("CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"),
        400: ("CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"),
        500: ("CUDA_ERROR_NOT_FOUND", "named symbol not found"),
        600: ("CUDA_ERROR_NOT_READY", "device not ready"),
        700: ("CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"),
        701: ("CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"),
        702: ("CUDA_ERROR_LAUNCH_TIMEOUT", "the launch timed out and was terminated"),
        719: ("CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"),
        800: ("CUDA_ERROR_NOT_PERMITTED", "operation not permitted"),
        801: ("CUDA_ERROR_NOT_SUPPORTED", "operation not supported"),
        999: ("CUDA_ERROR_UNKNOWN", "unknown error"),
    ]

    /// The fallback name for `code`.
    static func name(_ code: Int32) -> String {
        known[code]?.name ?? "CUDA_ERROR_\(code)"
    }

    /// The fallback message for `code`.
    static func message(_ code: Int32) -> String {
        known[code]?.message ?? "unrecognized error code"
    }
}
