import CUDADriver

/// A kernel's argument buffer together with what the host meant each argument to be: its name
/// (the kernel's parameter name) and its kind. The launch uses ``arguments``; tests compare
/// ``signature`` with the parameter lists parsed from the `.cu` sources, so that an argument
/// added, dropped, reordered or retyped on one side only fails on the host, with no GPU.
struct LaunchArguments {
    /// How a parameter is passed.
    enum Kind: String, Equatable, Sendable {
        /// A device address (any pointer type).
        case pointer
        /// `i64` (`long long`).
        case int64
        /// `int`.
        case int32
        /// `float`.
        case float32
        /// A `__grid_constant__` TMA descriptor.
        case tensorMap
    }

    private(set) var arguments = KernelArguments()
    private(set) var signature: [(name: String, kind: Kind)] = []

    mutating func pointer(_ name: String, _ address: UInt64) {
        arguments.append(address)
        signature.append((name, .pointer))
    }

    mutating func int64(_ name: String, _ value: Int) {
        arguments.append(Int64(value))
        signature.append((name, .int64))
    }

    mutating func int32(_ name: String, _ value: Int) {
        arguments.append(Int32(value))
        signature.append((name, .int32))
    }

    mutating func float32(_ name: String, _ value: Float) {
        arguments.append(value)
        signature.append((name, .float32))
    }

    mutating func tensorMap(_ name: String, _ map: TensorMap) {
        arguments.append(map)
        signature.append((name, .tensorMap))
    }

    /// Records a tensor-map parameter without a descriptor (for signature checks only: no launch).
    mutating func tensorMapPlaceholder(_ name: String) {
        signature.append((name, .tensorMap))
    }
}
