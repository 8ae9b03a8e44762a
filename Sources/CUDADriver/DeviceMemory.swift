// DeviceMemory: copies and fills on raw device addresses the library does not own.
/// Copies and fills on raw device addresses, for memory this library does not own (views of
/// PyTorch tensors, offsets inside a `DeviceBuffer`, ...). Zero-byte operations return without
/// calling the driver. Synchronous variants make `device`'s primary context current; asynchronous
/// ones use the stream's device and return once the work is queued.
///
/// Host memory given to an asynchronous copy must stay valid, and unchanged (for copies from host)
/// or untouched (for copies to host), until the stream has been synchronized.
public enum DeviceMemory {
    /// Device-to-device copy of `byteCount` bytes, queued on `stream` (`cuMemcpyDtoDAsync_v2`).
    public static func copy(from source: UInt64, to destination: UInt64, byteCount: Int, stream: Stream) throws(CUDAError) {
        try requireNonNegative(byteCount)
        guard byteCount > 0 else { return }
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(stream.device)
        try driver.call(driver.symbols.cuMemcpyDtoDAsync) { $0(destination, source, byteCount, stream.handle) }
    }

    /// Device-to-device copy of `byteCount` bytes, synchronous (`cuMemcpyDtoD_v2`).
    public static func copy(from source: UInt64, to destination: UInt64, byteCount: Int, device: Device) throws(CUDAError) {
        try requireNonNegative(byteCount)
        guard byteCount > 0 else { return }
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        try driver.call(driver.symbols.cuMemcpyDtoD) { $0(destination, source, byteCount) }
    }

    /// Copies `host.count` bytes from device address `source` into `host`, synchronous (`cuMemcpyDtoH_v2`).
    public static func copyToHost(from source: UInt64, into host: UnsafeMutableRawBufferPointer, device: Device) throws(CUDAError) {
        guard host.count > 0 else { return }
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        try driver.call(driver.symbols.cuMemcpyDtoH) { $0(host.baseAddress, source, host.count) }
    }

    /// Queues a copy of `host.count` bytes from device address `source` into `host` on `stream`
    /// (`cuMemcpyDtoHAsync_v2`).
    public static func copyToHost(from source: UInt64, into host: UnsafeMutableRawBufferPointer, stream: Stream) throws(CUDAError) {
        guard host.count > 0 else { return }
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(stream.device)
        try driver.call(driver.symbols.cuMemcpyDtoHAsync) { $0(host.baseAddress, source, host.count, stream.handle) }
    }

    /// Copies all of `host` to device address `destination`, synchronous (`cuMemcpyHtoD_v2`).
    public static func copyFromHost(_ host: UnsafeRawBufferPointer, to destination: UInt64, device: Device) throws(CUDAError) {
        guard host.count > 0 else { return }
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        try driver.call(driver.symbols.cuMemcpyHtoD) { $0(destination, host.baseAddress, host.count) }
    }

    /// Queues a copy of all of `host` to device address `destination` on `stream` (`cuMemcpyHtoDAsync_v2`).
    public static func copyFromHost(_ host: UnsafeRawBufferPointer, to destination: UInt64, stream: Stream) throws(CUDAError) {
        guard host.count > 0 else { return }
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(stream.device)
        try driver.call(driver.symbols.cuMemcpyHtoDAsync) { $0(destination, host.baseAddress, host.count, stream.handle) }
    }

    /// Sets `byteCount` bytes at `address` to `byte`, synchronous (`cuMemsetD8_v2`).
    public static func fill(address: UInt64, byteCount: Int, byte: UInt8, device: Device) throws(CUDAError) {
        try requireNonNegative(byteCount)
        guard byteCount > 0 else { return }
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        try driver.call(driver.symbols.cuMemsetD8) { $0(address, byte, byteCount) }
    }

    /// Queues setting `byteCount` bytes at `address` to `byte` on `stream` (`cuMemsetD8Async`).
    public static func fillAsync(address: UInt64, byteCount: Int, byte: UInt8, stream: Stream) throws(CUDAError) {
        try requireNonNegative(byteCount)
        guard byteCount > 0 else { return }
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(stream.device)
        try driver.call(driver.symbols.cuMemsetD8Async) { $0(address, byte, byteCount, stream.handle) }
    }

    /// Queues setting `wordCount` 32-bit words at `address` (4-byte aligned) to `word32` on `stream`
    /// (`cuMemsetD32Async`); e.g. `Float(...).bitPattern` or `0xFF80_0000` for -infinity.
    public static func fillAsync(address: UInt64, wordCount: Int, word32: UInt32, stream: Stream) throws(CUDAError) {
        try requireNonNegative(wordCount)
        guard address % 4 == 0 else {
            throw .invalidArgument("32-bit fill needs a 4-byte aligned address, got 0x\(String(address, radix: 16))")
        }
        guard wordCount > 0 else { return }
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(stream.device)
        try driver.call(driver.symbols.cuMemsetD32Async) { $0(address, word32, wordCount, stream.handle) }
    }

    static func requireNonNegative(_ count: Int) throws(CUDAError) {
        guard count >= 0 else { throw .invalidArgument("negative size \(count)") }
    }

    /// Checks that `[offset, offset + count)` lies inside a region of `capacity` bytes.
    static func checkRange(offset: Int, count: Int, capacity: Int, what: String) throws(CUDAError) {
        guard offset >= 0, count >= 0 else {
            throw .invalidArgument("\(what): negative offset \(offset) or size \(count)")
        }
        let (end, overflow) = offset.addingReportingOverflow(count)
        guard !overflow, end <= capacity else {
            throw .invalidArgument("\(what): range \(offset)..<\(offset &+ count) exceeds the buffer's \(capacity) bytes")
        }
    }
}
