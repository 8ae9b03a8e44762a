// Event: a CUDA event, for timing and ordering streams.
/// A CUDA event, created with default flags (timing enabled), destroyed on deinit.
public final class Event: @unchecked Sendable {
    /// The `CUevent` handle.
    public let handle: OpaquePointer?
    /// The device whose primary context the event belongs to.
    public let device: Device

    /// Creates an event on `device` (`cuEventCreate` with `CU_EVENT_DEFAULT`).
    public init(device: Device) throws(CUDAError) {
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        var event: OpaquePointer? = nil
        try driver.call(driver.symbols.cuEventCreate) { $0(&event, CUConstant.eventDefault) }
        self.handle = event
        self.device = device
    }

    deinit {
        guard let handle, let driver = try? CUDADriver.shared() else { return }
        try? driver.makeCurrent(device)
        try? driver.call(driver.symbols.cuEventDestroy) { $0(handle) }
    }

    /// Records the event at the current end of `stream`'s queue (`cuEventRecord`).
    public func record(on stream: Stream) throws(CUDAError) {
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(stream.device)
        try driver.call(driver.symbols.cuEventRecord) { $0(handle, stream.handle) }
    }

    /// Blocks until the work before the last `record` has finished (`cuEventSynchronize`).
    public func synchronize() throws(CUDAError) {
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        try driver.call(driver.symbols.cuEventSynchronize) { $0(handle) }
    }

    /// Milliseconds between two recorded, completed events (`cuEventElapsedTime_v2`, or
    /// `cuEventElapsedTime` on drivers older than 12.8). Resolution is about half a microsecond.
    public static func elapsedMilliseconds(from start: Event, to end: Event) throws(CUDAError) -> Float {
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(start.device)
        var milliseconds: Float = 0
        try driver.call(driver.symbols.cuEventElapsedTime) { $0(&milliseconds, start.handle, end.handle) }
        return milliseconds
    }
}
