// DeviceBuffer: device memory owned by a noncopyable value.
/// Device memory owned by this value: allocated with `cuMemAlloc_v2` on `device`, freed with
/// `cuMemFree_v2` when the value is destroyed (errors while freeing are ignored).
///
/// A zero-byte buffer allocates nothing and has address 0; every copy and fill on it is a no-op.
/// Allocations are at least 256-byte aligned (the driver's guarantee).
public struct DeviceBuffer: ~Copyable, Sendable {
    /// The device address of the first byte (0 for an empty buffer).
    public let address: UInt64
    /// The size in bytes.
    public let byteCount: Int
    /// The device the memory lives on.
    public let device: Device

    /// Allocates `byteCount` bytes (uninitialized) on `device`.
    public init(device: Device, byteCount: Int) throws(CUDAError) {
        guard byteCount >= 0 else { throw .invalidArgument("negative buffer size \(byteCount)") }
        var pointer: CUdeviceptr = 0
        if byteCount > 0 {
            let driver = try CUDADriver.shared()
            try driver.makeCurrent(device)
            try driver.call(driver.symbols.cuMemAlloc) { $0(&pointer, byteCount) }
        }
        self.address = pointer
        self.byteCount = byteCount
        self.device = device
    }

    deinit {
        guard address != 0, let driver = try? CUDADriver.shared() else { return }
        try? driver.makeCurrent(device)
        try? driver.call(driver.symbols.cuMemFree) { $0(address) }
    }

    /// Synchronously copies all of `host` into the buffer starting at byte `offset`.
    public func copy(from host: UnsafeRawBufferPointer, toOffset offset: Int = 0) throws(CUDAError) {
        try DeviceMemory.checkRange(offset: offset, count: host.count, capacity: byteCount, what: "copy to device")
        try DeviceMemory.copyFromHost(host, to: address &+ UInt64(offset), device: device)
    }

    /// Synchronously fills all of `host` from the buffer starting at byte `offset`.
    public func copy(to host: UnsafeMutableRawBufferPointer, fromOffset offset: Int = 0) throws(CUDAError) {
        try DeviceMemory.checkRange(offset: offset, count: host.count, capacity: byteCount, what: "copy to host")
        try DeviceMemory.copyToHost(from: address &+ UInt64(offset), into: host, device: device)
    }

    /// Queues a copy of all of `host` into the buffer at byte `offset` on `stream`; `host` must stay
    /// valid until the stream is synchronized.
    public func copyAsync(from host: UnsafeRawBufferPointer, toOffset offset: Int = 0, stream: Stream) throws(CUDAError) {
        try DeviceMemory.checkRange(offset: offset, count: host.count, capacity: byteCount, what: "copy to device")
        try DeviceMemory.copyFromHost(host, to: address &+ UInt64(offset), stream: stream)
    }

    /// Queues a copy from the buffer at byte `offset` into all of `host` on `stream`; read `host`
    /// only after the stream is synchronized.
    public func copyAsync(to host: UnsafeMutableRawBufferPointer, fromOffset offset: Int = 0, stream: Stream) throws(CUDAError) {
        try DeviceMemory.checkRange(offset: offset, count: host.count, capacity: byteCount, what: "copy to host")
        try DeviceMemory.copyToHost(from: address &+ UInt64(offset), into: host, stream: stream)
    }

    /// Queues a device-to-device copy of `byteCount` bytes from `source` (at `sourceOffset`) into this
    /// buffer (at `offset`) on `stream`.
    public func copyAsync(from source: borrowing DeviceBuffer, sourceOffset: Int = 0, toOffset offset: Int = 0,
                          byteCount count: Int, stream: Stream) throws(CUDAError) {
        try DeviceMemory.checkRange(offset: sourceOffset, count: count, capacity: source.byteCount, what: "device copy source")
        try DeviceMemory.checkRange(offset: offset, count: count, capacity: byteCount, what: "device copy destination")
        try DeviceMemory.copy(from: source.address &+ UInt64(sourceOffset), to: address &+ UInt64(offset),
                              byteCount: count, stream: stream)
    }

    /// Synchronously sets every byte of the buffer to `byte`.
    public func fill(byte: UInt8) throws(CUDAError) {
        try DeviceMemory.fill(address: address, byteCount: byteCount, byte: byte, device: device)
    }

    /// Queues setting every byte of the buffer to `byte` on `stream`.
    public func fillAsync(byte: UInt8, stream: Stream) throws(CUDAError) {
        try DeviceMemory.fillAsync(address: address, byteCount: byteCount, byte: byte, stream: stream)
    }

    /// Queues setting every 32-bit word of the buffer to `word32` on `stream`; the size must be a
    /// multiple of 4.
    public func fillAsync(word32: UInt32, stream: Stream) throws(CUDAError) {
        guard byteCount % 4 == 0 else {
            throw .invalidArgument("32-bit fill of a \(byteCount)-byte buffer (not a multiple of 4)")
        }
        try DeviceMemory.fillAsync(address: address, wordCount: byteCount / 4, word32: word32, stream: stream)
    }

    /// Synchronously uploads `values` into the buffer starting at byte `offset`.
    public func upload<T: BitwiseCopyable>(_ values: [T], toOffset offset: Int = 0) throws(CUDAError) {
        var failure: CUDAError? = nil
        let address = self.address, byteCount = self.byteCount, device = self.device
        values.withUnsafeBytes { bytes in
            do throws(CUDAError) {
                try DeviceMemory.checkRange(offset: offset, count: bytes.count, capacity: byteCount, what: "upload")
                try DeviceMemory.copyFromHost(bytes, to: address &+ UInt64(offset), device: device)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// Synchronously downloads `count` values of type `T` from the buffer starting at byte `offset`
    /// (by default as many whole values as fit after `offset`).
    public func download<T: BitwiseCopyable>(as type: T.Type, count: Int? = nil, fromOffset offset: Int = 0) throws(CUDAError) -> [T] {
        let stride = MemoryLayout<T>.stride
        let available = max(0, byteCount - max(0, offset)) / max(stride, 1)
        let n = count ?? available
        guard n >= 0 else { throw .invalidArgument("negative element count \(n)") }
        let (bytesNeeded, overflow) = n.multipliedReportingOverflow(by: stride)
        guard !overflow else { throw .invalidArgument("element count \(n) overflows") }
        try DeviceMemory.checkRange(offset: offset, count: bytesNeeded, capacity: byteCount, what: "download")
        var failure: CUDAError? = nil
        let address = self.address, device = self.device
        let values = [T](unsafeUninitializedCapacity: n) { buffer, initialized in
            do throws(CUDAError) {
                try DeviceMemory.copyToHost(from: address &+ UInt64(offset),
                                            into: UnsafeMutableRawBufferPointer(buffer), device: device)
                initialized = n
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return values
    }
}
