// KernelArguments: a launch's parameters, each in its own aligned slot.
/// The parameters of one kernel launch, in declaration order, each copied into its own properly
/// aligned slot of an owned buffer; `cuLaunchKernel` receives the `void**` array of slot addresses.
///
/// Values are copied when appended, so the originals need not outlive anything; the buffer lives as
/// long as this value, which outlives every launch it is passed to (launches read it during the call).
/// Copying a `KernelArguments` copies the buffer on the next write (copy-on-write), so, like
/// `Array`, a value can be sent to another task: the shared buffer is only read, never written,
/// while more than one value refers to it.
public struct KernelArguments: @unchecked Sendable {
    /// Alignment of the buffer itself; every slot offset is a multiple of its own alignment, so
    /// slots up to this alignment are aligned in memory too.
    static let bufferAlignment = 128

    /// The owned buffer and the slot layout.
    final class Storage {
        var base: UnsafeMutableRawPointer
        var capacity: Int
        var used: Int = 0
        var offsets: [Int] = []
        var sizes: [Int] = []

        init(capacity: Int) {
            self.capacity = max(capacity, 64)
            base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: KernelArguments.bufferAlignment)
        }

        deinit {
            base.deallocate()
        }

        func copy() -> Storage {
            let clone = Storage(capacity: capacity)
            clone.base.copyMemory(from: base, byteCount: used)
            clone.used = used
            clone.offsets = offsets
            clone.sizes = sizes
            return clone
        }

        func reserve(_ needed: Int) {
            guard needed > capacity else { return }
            var newCapacity = capacity
            while newCapacity < needed { newCapacity *= 2 }
            let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: KernelArguments.bufferAlignment)
            newBase.copyMemory(from: base, byteCount: used)
            base.deallocate()
            base = newBase
            capacity = newCapacity
        }

        /// Appends `bytes` in a new slot aligned to `alignment`, zero-filled up to `slotSize` bytes
        /// when that is larger.
        func append(_ bytes: UnsafeRawBufferPointer, alignment: Int, slotSize: Int = 0) {
            let offset = (used + alignment - 1) / alignment * alignment
            let size = max(bytes.count, slotSize)
            reserve(offset + max(size, 1))
            if let source = bytes.baseAddress, bytes.count > 0 {
                (base + offset).copyMemory(from: source, byteCount: bytes.count)
            }
            if size > bytes.count {
                (base + offset + bytes.count).initializeMemory(as: UInt8.self, repeating: 0, count: size - bytes.count)
            }
            offsets.append(offset)
            sizes.append(size)
            used = offset + max(size, 1)
        }
    }

    private var storage: Storage

    /// No arguments yet.
    public init() {
        storage = Storage(capacity: 256)
    }

    /// The number of arguments appended.
    public var count: Int { storage.offsets.count }

    private mutating func uniqueStorage() -> Storage {
        if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy()
        }
        return storage
    }

    /// Appends one argument: a plain value of any size (pointers as `UInt64` device addresses,
    /// integers, floats, or a `BitwiseCopyable` struct whose layout matches the kernel's parameter).
    /// The slot holds the value's stride, as C's `sizeof` counts a struct's trailing padding (zeroed).
    public mutating func append<T: BitwiseCopyable>(_ value: T) {
        let alignment = max(MemoryLayout<T>.alignment, 1)
        withUnsafeBytes(of: value) { bytes in
            uniqueStorage().append(UnsafeRawBufferPointer(rebasing: bytes[0..<MemoryLayout<T>.size]), alignment: alignment,
                                   slotSize: MemoryLayout<T>.stride)
        }
    }

    /// Appends a TMA descriptor: its 128 bytes in a slot aligned to 128 bytes (cuda.h requires 64
    /// for `CUtensorMap`; CUDA 13 declares 128 on Linux, which also satisfies 64).
    public mutating func append(_ tensorMap: TensorMap) {
        tensorMap.withUnsafeBytes { bytes in
            uniqueStorage().append(bytes, alignment: TensorMap.alignment)
        }
    }

    /// Appends raw bytes as one argument, aligned to `alignment` (a power of two, at most 128), for
    /// parameter structs assembled by hand.
    public mutating func appendBytes(_ bytes: UnsafeRawBufferPointer, alignment: Int) {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0 && alignment <= Self.bufferAlignment,
                     "alignment must be a power of two no larger than \(Self.bufferAlignment)")
        uniqueStorage().append(bytes, alignment: alignment)
    }

    /// Calls `body` with the `void**` parameter array (nil when there are no arguments), valid only
    /// during the call.
    func withParameterPointers<R>(_ body: (UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> R) -> R {
        let storage = self.storage
        let count = storage.offsets.count
        guard count > 0 else { return withExtendedLifetime(storage) { body(nil) } }
        let pointers = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: count)
        defer { pointers.deallocate() }
        for index in 0..<count {
            pointers[index] = storage.base + storage.offsets[index]
        }
        return withExtendedLifetime(storage) { body(pointers) }
    }

    /// The byte size recorded for argument `index` (for tests and diagnostics).
    func byteCount(ofArgument index: Int) -> Int {
        storage.sizes[index]
    }
}
