// MLAError: every failure the library reports.
/// Every failure the library reports.
///
/// Argument errors name the argument, what was expected and what was given, and are
/// raised before any work is done and before any output is written.
public enum MLAError: Error, Equatable, CustomStringConvertible {
    /// An argument's shape, type, value or contents is not what the call accepts.
    case invalidArgument(argument: String, expected: String, given: String)
    /// The selected device cannot run these kernels (compute capability, shared memory).
    case unsupportedDevice(device: String, reason: String)
    /// The CUDA driver or NVRTC failed; the text names the call and its error.
    case backend(String)

    public var description: String {
        switch self {
        case let .invalidArgument(argument, expected, given):
            "invalid argument '\(argument)': expected \(expected), given \(given)"
        case let .unsupportedDevice(device, reason):
            "unsupported device \(device): \(reason)"
        case let .backend(text):
            text
        }
    }
}
