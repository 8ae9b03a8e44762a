// NVRTCError: everything that can go wrong finding or running NVRTC.
/// Everything that can go wrong while finding NVRTC, compiling with it, or caching its output.
public enum NVRTCError: Error, Equatable, CustomStringConvertible {
    /// No usable `libnvrtc` was found; `tried` lists every location searched, in search order.
    case libraryNotFound(tried: [String])
    /// An NVRTC entry point returned a status other than `NVRTC_SUCCESS`.
    ///
    /// `message` is the text of `nvrtcGetErrorString(code)`, followed by the program log when there is one.
    case call(function: String, code: Int32, message: String)
    /// The CUDA C++ source did not compile; `log` is the NVRTC program log with the diagnostics.
    case compilation(log: String)
    /// The on-disk cubin cache could not be read or written.
    case cache(String)
    /// A cubin could not be read as the ELF image NVRTC writes (``CubinGlobals``).
    case malformedCubin(String)

    /// A human-readable explanation, including how to fix a missing library.
    public var description: String {
        switch self {
        case .libraryNotFound(let tried):
            let places = tried.map { "  - \($0)" }.joined(separator: "\n")
            return """
                NVRTC (libnvrtc) was not found. Tried, in order:
                \(places)
                Fix: install the CUDA toolkit or `pip install nvidia-cuda-nvrtc`, \
                or set FLASHMLA_NVRTC to the library's path.
                """
        case .call(let function, let code, let message):
            return "\(function) failed with status \(code): \(message)"
        case .compilation(let log):
            return "NVRTC compilation failed:\n\(log)"
        case .cache(let message):
            return "cubin cache: \(message)"
        case .malformedCubin(let reason):
            return "malformed cubin: \(reason)"
        }
    }
}
