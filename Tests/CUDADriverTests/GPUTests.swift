// Tests that need a CUDA driver and a device (skipped, with the reason, elsewhere).
import Testing
@testable import CUDADriver

/// Tests that need a CUDA driver and at least one device; they are skipped (disabled, with the
/// reason shown) everywhere else.
@Suite("On a GPU", .serialized, .enabled(if: TestEnvironment.gpuAvailable, "needs a CUDA driver and a GPU"))
struct GPUTests {
    @Test("Device properties are sane")
    func deviceProperties() throws {
        let driver = try CUDADriver.shared()
        let devices = try Device.all()
        #expect(devices.count == (try driver.deviceCount()))
        for (index, device) in devices.enumerated() {
            #expect(device.ordinal == index)
            #expect(!device.name.isEmpty)
            #expect(device.multiprocessorCount > 0)
            #expect(device.computeCapability.major >= 5)
            #expect(device.maxSharedMemoryPerBlockOptin >= 48 * 1024)
            #expect(device.l2CacheSize > 0)
            #expect(device.totalMemory > 1 << 30)
            #expect(try device.attribute(.warpSize) == 32)
            #expect(device.nvrtcArchitecture.hasPrefix("sm_"))
            #expect(try Device(ordinal: index) == device)
            print("device \(device): \(device.computeCapability) -> \(device.nvrtcArchitecture), "
                  + "optin smem \(device.maxSharedMemoryPerBlockOptin), L2 \(device.l2CacheSize), "
                  + "memory \(device.totalMemory), driver \(driver.version) at \(driver.libraryPath)")
        }
        #expect(throws: CUDAError.self) { _ = try Device(ordinal: devices.count) }
        #expect(throws: CUDAError.self) { _ = try Device(ordinal: -1) }
    }

    @Test("Host to device to host round trip, with offsets and range checks")
    func roundTrip() throws {
        let device = try TestEnvironment.firstDevice()
        let count = (1 << 20) + 3
        let buffer = try DeviceBuffer(device: device, byteCount: count)
        #expect(buffer.address != 0)
        #expect(buffer.address % 256 == 0)
        var generator = SystemRandomNumberGenerator()
        let source = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
        try source.withUnsafeBytes { try buffer.copy(from: $0) }
        var back = [UInt8](repeating: 0, count: count)
        try back.withUnsafeMutableBytes { try buffer.copy(to: $0) }
        #expect(back == source)

        // A slice in the middle.
        let patch: [UInt8] = Array(repeating: 0x5A, count: 100)
        try patch.withUnsafeBytes { try buffer.copy(from: $0, toOffset: 1000) }
        var middle = [UInt8](repeating: 0, count: 102)
        try middle.withUnsafeMutableBytes { try buffer.copy(to: $0, fromOffset: 999) }
        #expect(middle[0] == source[999])
        #expect(Array(middle[1...100]) == patch)
        #expect(middle[101] == source[1100])

        // Out of range.
        #expect(throws: CUDAError.self) {
            try patch.withUnsafeBytes { try buffer.copy(from: $0, toOffset: count - 10) }
        }
        #expect(throws: CUDAError.self) {
            try middle.withUnsafeMutableBytes { try buffer.copy(to: $0, fromOffset: -1) }
        }

        // Typed helpers.
        let floats: [Float] = (0..<1000).map { Float($0) * 0.5 }
        try buffer.upload(floats, toOffset: 4096)
        #expect(try buffer.download(as: Float.self, count: 1000, fromOffset: 4096) == floats)
    }

    @Test("An empty buffer holds address 0 and every operation on it is a no-op")
    func emptyBuffer() throws {
        let device = try TestEnvironment.firstDevice()
        let empty = try DeviceBuffer(device: device, byteCount: 0)
        #expect(empty.address == 0)
        #expect(empty.byteCount == 0)
        try empty.fill(byte: 1)
        try [UInt8]().withUnsafeBytes { try empty.copy(from: $0) }
        #expect(try empty.download(as: UInt32.self).isEmpty)
        #expect(throws: CUDAError.self) { try [UInt8(1)].withUnsafeBytes { try empty.copy(from: $0) } }
    }

    @Test("Fills, synchronous and on a stream")
    func fills() throws {
        let device = try TestEnvironment.firstDevice()
        let buffer = try DeviceBuffer(device: device, byteCount: 4096)
        try buffer.fill(byte: 0xAB)
        #expect(try buffer.download(as: UInt8.self).allSatisfy { $0 == 0xAB })
        let stream = try Stream(device: device)
        try buffer.fillAsync(word32: Float(1.5).bitPattern, stream: stream)
        try stream.synchronize()
        #expect(try buffer.download(as: Float.self).allSatisfy { $0 == 1.5 })
        try buffer.fillAsync(byte: 0, stream: stream)
        try stream.synchronize()
        #expect(try buffer.download(as: UInt64.self).allSatisfy { $0 == 0 })
        let odd = try DeviceBuffer(device: device, byteCount: 6)
        #expect(throws: CUDAError.self) { try odd.fillAsync(word32: 1, stream: stream) }
    }

    @Test("Asynchronous copies and raw-address copies")
    func asyncCopies() throws {
        let device = try TestEnvironment.firstDevice()
        let stream = try Stream(device: device)
        let a = try DeviceBuffer(device: device, byteCount: 1 << 16)
        let b = try DeviceBuffer(device: device, byteCount: 1 << 16)
        let source = (0..<(1 << 16)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var back = [UInt8](repeating: 0, count: 1 << 16)
        try source.withUnsafeBytes { host in
            try a.copyAsync(from: host, stream: stream)
            try b.copyAsync(from: a, byteCount: 1 << 16, stream: stream)
            try back.withUnsafeMutableBytes { try b.copyAsync(to: $0, stream: stream) }
            try stream.synchronize()
        }
        #expect(back == source)

        // Raw addresses, as for memory owned elsewhere.
        try DeviceMemory.fill(address: b.address, byteCount: 1 << 16, byte: 0, device: device)
        try DeviceMemory.copy(from: a.address + 100, to: b.address, byteCount: 50, stream: stream)
        try stream.synchronize()
        var window = [UInt8](repeating: 0, count: 52)
        try window.withUnsafeMutableBytes { try DeviceMemory.copyToHost(from: b.address, into: $0, device: device) }
        #expect(Array(window[0..<50]) == Array(source[100..<150]))
        #expect(window[50] == 0 && window[51] == 0)
        try [UInt8](repeating: 7, count: 8).withUnsafeBytes {
            try DeviceMemory.copyFromHost($0, to: b.address + 8, device: device)
        }
        try DeviceMemory.copy(from: b.address, to: a.address, byteCount: 16, device: device)
        #expect(try a.download(as: UInt8.self, count: 16) == Array(source[100..<108]) + [UInt8](repeating: 7, count: 8))

        // The legacy default stream, borrowed.
        let legacy = Stream(borrowing: nil, device: device)
        try a.fillAsync(byte: 3, stream: legacy)
        try legacy.synchronize()
        #expect(try a.download(as: UInt8.self, count: 4) == [3, 3, 3, 3])
    }

    @Test("Events time work on a stream")
    func events() throws {
        let device = try TestEnvironment.firstDevice()
        let stream = try Stream(device: device)
        let buffer = try DeviceBuffer(device: device, byteCount: 256 << 20)
        let start = try Event(device: device)
        let end = try Event(device: device)
        try start.record(on: stream)
        for value in 0..<8 {
            try buffer.fillAsync(byte: UInt8(value), stream: stream)
        }
        try end.record(on: stream)
        try end.synchronize()
        let milliseconds = try Event.elapsedMilliseconds(from: start, to: end)
        #expect(milliseconds > 0)
        #expect(milliseconds < 10_000)
        print("8 fills of 256 MiB took \(milliseconds) ms")
    }

    @Test("The owning device of an address")
    func owningDevice() throws {
        let device = try TestEnvironment.firstDevice()
        let buffer = try DeviceBuffer(device: device, byteCount: 1024)
        #expect(try Device.owning(address: buffer.address) == device.ordinal)
        #expect(try Device.owning(address: buffer.address + 512) == device.ordinal)
        #expect(throws: CUDAError.self) { _ = try Device.owning(address: 0x10) }
    }

    @Test("Failed driver calls name the call and the error")
    func failedCall() throws {
        let device = try TestEnvironment.firstDevice()
        do {
            _ = try DeviceBuffer(device: device, byteCount: 1 << 50)
            Issue.record("allocating a petabyte succeeded")
        } catch {
            #expect(error.description.hasPrefix("cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2)"))
        }
        let module = try Module(device: device, image: TestKernels.image(TestKernels.basic))
        do {
            _ = try module.function(named: "no_such_kernel")
            Issue.record("found a kernel that does not exist")
        } catch {
            #expect(error.description.hasPrefix("cuModuleGetFunction failed: CUDA_ERROR_NOT_FOUND"))
        }
    }

    @Test("A module's global: its address and size (cuModuleGetGlobal), its value by a copy")
    func moduleGlobal() throws {
        let device = try TestEnvironment.firstDevice()
        let module = try Module(device: device, image: TestKernels.image(TestKernels.basic))
        let global = try module.global(named: "probe_global")
        #expect(global.address != 0 && global.byteCount == 4)
        var value: Int32 = 0
        try withUnsafeMutableBytes(of: &value) { try DeviceMemory.copyToHost(from: global.address, into: $0, device: device) }
        #expect(value == 231_952)
        do {
            _ = try module.global(named: "no_such_global")
            Issue.record("found a global that does not exist")
        } catch {
            #expect(error.description.hasPrefix("cuModuleGetGlobal_v2 failed: CUDA_ERROR_NOT_FOUND"))
        }
    }

    @Test("Kernels launch with cuLaunchKernel and cuLaunchKernelEx and see their arguments")
    func launches() throws {
        let device = try TestEnvironment.firstDevice()
        let stream = try Stream(device: device)
        let module = try Module(device: device, image: TestKernels.image(TestKernels.basic))
        let iota = try module.function(named: "iota_u32")
        #expect(try iota.numRegisters > 0)
        #expect(try iota.attribute(.maxThreadsPerBlock) >= 256)
        try iota.setMaxDynamicSharedMemory(device.maxSharedMemoryPerBlockOptin)
        #expect(try iota.attribute(.maxDynamicSharedSizeBytes) == device.maxSharedMemoryPerBlockOptin)

        let n = 10_000
        let out = try DeviceBuffer(device: device, byteCount: n * 4)
        var arguments = KernelArguments()
        arguments.append(out.address)
        arguments.append(UInt32(7))
        arguments.append(UInt32(n))
        try iota.launch(grid: ((n + 255) / 256, 1, 1), block: (256, 1, 1), stream: stream, arguments: &arguments)
        try stream.synchronize()
        #expect(try out.download(as: UInt32.self) == (0..<n).map { UInt32(7 + $0) })

        var second = KernelArguments()
        second.append(out.address)
        second.append(UInt32(1000))
        second.append(UInt32(n))
        try iota.launch(grid: ((n + 127) / 128, 1, 1), block: (128, 1, 1), clusterDims: nil,
                        sharedMemoryBytes: 1024, stream: stream, arguments: &second)
        try stream.synchronize()
        #expect(try out.download(as: UInt32.self) == (0..<n).map { UInt32(1000 + $0) })

        // Mixed parameter sizes, including a 128-byte, 64-aligned blob.
        let probe = try module.function(named: "probe_params")
        let blob = try TensorMap(bytes: (0..<128).map { UInt8(truncatingIfNeeded: $0 &* 3 &+ 1) })
        let result = try DeviceBuffer(device: device, byteCount: 32)
        try result.fill(byte: 0)
        var mixed = KernelArguments()
        mixed.append(result.address)
        mixed.append(UInt8(0xC3))
        mixed.append(Float(-6.25))
        mixed.append(UInt64(0xFEED_FACE_CAFE_BEEF))
        mixed.append(blob)
        mixed.append(UInt16(0xABCD))
        try probe.launch(grid: (1, 1, 1), block: (1, 1, 1), stream: stream, arguments: &mixed)
        try stream.synchronize()
        let words = try result.download(as: UInt32.self)
        let blobWords = blob.withUnsafeBytes { raw in (0..<32).map { raw.load(fromByteOffset: $0 * 4, as: UInt32.self) } }
        #expect(words[0] == 0xC3)
        #expect(Float(bitPattern: words[1]) == -6.25)
        #expect(UInt64(words[2]) | (UInt64(words[3]) << 32) == 0xFEED_FACE_CAFE_BEEF)
        #expect(words[4] == blobWords[1])
        #expect(words[5] == blobWords[31])
        #expect(words[6] == 0xABCD)

        // Wrong-device streams and bad geometry are refused before the driver is called.
        #expect(throws: CUDAError.self) {
            try iota.launch(grid: (0, 1, 1), block: (256, 1, 1), stream: stream, arguments: &arguments)
        }
    }

    @Test("Programmatic stream serialization launches on Hopper and newer",
          .enabled(if: TestEnvironment.gpuAvailable && ((try? TestEnvironment.firstDevice().computeCapability.major) ?? 0) >= 9))
    func programmaticLaunch() throws {
        let device = try TestEnvironment.firstDevice()
        let stream = try Stream(device: device)
        let module = try Module(device: device, image: TestKernels.image(TestKernels.basic))
        let iota = try module.function(named: "iota_u32")
        let out = try DeviceBuffer(device: device, byteCount: 4096 * 4)
        for base in [UInt32(1), 2, 3] {
            var arguments = KernelArguments()
            arguments.append(out.address)
            arguments.append(base)
            arguments.append(UInt32(4096))
            try iota.launch(grid: (16, 1, 1), block: (256, 1, 1), clusterDims: nil,
                            programmaticStreamSerialization: true, stream: stream, arguments: &arguments)
        }
        try stream.synchronize()
        #expect(try out.download(as: UInt32.self) == (0..<4096).map { UInt32(3 + $0) })
    }

    @Test("Cluster launches and TMA loads through an encoded tensor map",
          .enabled(if: TestEnvironment.gpuAvailable && ((try? TestEnvironment.firstDevice().computeCapability.major) ?? 0) >= 9))
    func hopperFeatures() throws {
        let device = try TestEnvironment.firstDevice()
        let stream = try Stream(device: device)
        let module = try Module(device: device, image: TestKernels.image(TestKernels.hopper))

        let clusterProbe = try module.function(named: "cluster_probe")
        let sizes = try DeviceBuffer(device: device, byteCount: 8 * 4)
        for clusterSize in [1, 2, 4] {
            var arguments = KernelArguments()
            arguments.append(sizes.address)
            try clusterProbe.launch(grid: (8, 1, 1), block: (32, 1, 1), clusterDims: (clusterSize, 1, 1),
                                    programmaticStreamSerialization: clusterSize == 2,
                                    stream: stream, arguments: &arguments)
            try stream.synchronize()
            #expect(try sizes.download(as: UInt32.self) == [UInt32](repeating: UInt32(clusterSize), count: 8))
        }
        var badCluster = KernelArguments()
        badCluster.append(sizes.address)
        #expect(throws: CUDAError.self) {
            try clusterProbe.launch(grid: (7, 1, 1), block: (32, 1, 1), clusterDims: (2, 1, 1),
                                    stream: stream, arguments: &badCluster)
        }

        // A 16 x 32 matrix of UInt32 (row-major, 128-byte rows); load the 4 x 8 box at column 8, row 4.
        let rows = 16, columns = 32
        let matrix = (0..<(rows * columns)).map { UInt32($0) * 3 + 11 }
        let global = try DeviceBuffer(device: device, byteCount: rows * columns * 4)
        try global.upload(matrix)
        let map = try TensorMap.encodeTiled(
            dataType: .uint32, rank: 2, globalAddress: global.address,
            globalDims: [UInt64(columns), UInt64(rows)], globalStrides: [UInt64(columns * 4)],
            boxDims: [8, 4], elementStrides: [1, 1],
            interleave: .none, swizzle: .none, l2Promotion: .bytes128, oobFill: .none)
        #expect(map != TensorMap())
        let tma = try module.function(named: "tma_probe")
        let loaded = try DeviceBuffer(device: device, byteCount: 32 * 4)
        try loaded.fill(byte: 0xFF)
        var arguments = KernelArguments()
        arguments.append(loaded.address)
        arguments.append(map)
        arguments.append(UInt32(8))
        arguments.append(UInt32(4))
        try tma.launch(grid: (1, 1, 1), block: (32, 1, 1), stream: stream, arguments: &arguments)
        try stream.synchronize()
        let expected = (0..<32).map { matrix[(4 + $0 / 8) * columns + 8 + $0 % 8] }
        #expect(try loaded.download(as: UInt32.self) == expected)
    }

    @Test("Concurrent tasks on arbitrary threads each get the right context")
    func concurrentTasks() async throws {
        let device = try TestEnvironment.firstDevice()
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for task in 0..<16 {
                group.addTask {
                    let stream = try Stream(device: device)
                    let buffer = try DeviceBuffer(device: device, byteCount: 1 << 16)
                    let values = (0..<(1 << 14)).map { UInt32($0 ^ task) }
                    for _ in 0..<4 {
                        await Task.yield()
                        try buffer.fillAsync(word32: 0, stream: stream)
                        try stream.synchronize()
                        try buffer.upload(values)
                    }
                    return try buffer.download(as: UInt32.self) == values
                }
            }
            for try await ok in group {
                #expect(ok)
            }
        }
    }
}
