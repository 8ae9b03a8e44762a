// Stream: a CUDA stream on one device.
/// A CUDA stream on one device.
///
/// A stream made with `init(device:)` is created non-blocking (`CU_STREAM_NON_BLOCKING`: it does not
/// synchronize with the legacy default stream) and destroyed when the object goes away. A stream made
/// with `init(borrowing:device:)` wraps a handle owned by someone else (for example PyTorch's current
/// stream) and is never destroyed here.
public final class Stream: @unchecked Sendable {
    /// The `CUstream` handle; nil is the legacy default stream.
    public let handle: OpaquePointer?
    /// The device whose primary context the stream belongs to.
    public let device: Device
    /// Whether this object destroys the stream on deinit.
    public let isOwned: Bool

    /// Creates a new non-blocking stream on `device`.
    public init(device: Device) throws(CUDAError) {
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        var stream: OpaquePointer? = nil
        try driver.call(driver.symbols.cuStreamCreate) { $0(&stream, CUConstant.streamNonBlocking) }
        self.handle = stream
        self.device = device
        self.isOwned = true
    }

    /// Wraps an existing stream without taking ownership; `handle` nil means the legacy default
    /// stream of `device`'s primary context. The caller keeps the stream alive while this object is used.
    public init(borrowing handle: OpaquePointer?, device: Device) {
        self.handle = handle
        self.device = device
        self.isOwned = false
    }

    /// Wraps an existing stream given as an integer handle (as Python frameworks report it).
    public convenience init(borrowingAddress address: UInt, device: Device) {
        self.init(borrowing: OpaquePointer(bitPattern: address), device: device)
    }

    deinit {
        guard isOwned, let handle, let driver = try? CUDADriver.shared() else { return }
        try? driver.makeCurrent(device)
        try? driver.call(driver.symbols.cuStreamDestroy) { $0(handle) }
    }

    /// Blocks until all work queued on the stream has finished (`cuStreamSynchronize`).
    public func synchronize() throws(CUDAError) {
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        try driver.call(driver.symbols.cuStreamSynchronize) { $0(handle) }
    }

    /// Whether work queued on the stream is being recorded into a graph rather than run
    /// (`cuStreamIsCapturing` reports a capture active or invalidated). A host query: it does not
    /// wait for the stream and may be called during capture.
    public var isCapturing: Bool {
        get throws(CUDAError) {
            let driver = try CUDADriver.shared()
            try driver.makeCurrent(device)
            var status: Int32 = 0
            try driver.call(driver.symbols.cuStreamIsCapturing) { $0(handle, &status) }
            return status != 0
        }
    }
}
