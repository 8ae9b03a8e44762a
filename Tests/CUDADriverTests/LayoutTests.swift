// Tests of the launch structs' layouts and attribute ids against cuda.h.
import Testing
@testable import CUDADriver

@Suite("C layouts of the launch structures")
struct LayoutTests {
    @Test("CUlaunchAttribute: 72 bytes, value at offset 8, 8-byte aligned")
    func launchAttribute() {
        #expect(MemoryLayout<CULaunchAttributeMirror>.size == 72)
        #expect(MemoryLayout<CULaunchAttributeMirror>.stride == 72)
        #expect(MemoryLayout<CULaunchAttributeMirror>.alignment == 8)
        #expect(MemoryLayout<CULaunchAttributeMirror>.offset(of: \.id) == 0)
        #expect(MemoryLayout<CULaunchAttributeMirror>.offset(of: \.value) == 8)
    }

    @Test("CUlaunchConfig: 56 bytes, hStream at 32, attrs at 40, numAttrs at 48")
    func launchConfig() {
        #expect(MemoryLayout<CULaunchConfigMirror>.size == 56)
        #expect(MemoryLayout<CULaunchConfigMirror>.stride == 56)
        #expect(MemoryLayout<CULaunchConfigMirror>.alignment == 8)
        #expect(MemoryLayout<CULaunchConfigMirror>.offset(of: \.gridDimX) == 0)
        #expect(MemoryLayout<CULaunchConfigMirror>.offset(of: \.blockDimX) == 12)
        #expect(MemoryLayout<CULaunchConfigMirror>.offset(of: \.sharedMemBytes) == 24)
        #expect(MemoryLayout<CULaunchConfigMirror>.offset(of: \.hStream) == 32)
        #expect(MemoryLayout<CULaunchConfigMirror>.offset(of: \.attrs) == 40)
        #expect(MemoryLayout<CULaunchConfigMirror>.offset(of: \.numAttrs) == 48)
    }

    @Test("Cluster and programmatic-serialization attributes carry the cuda.h ids and values")
    func attributeEncoding() {
        let cluster = CULaunchAttributeMirror.clusterDimension(x: 2, y: 3, z: 4)
        #expect(cluster.id == 4)
        withUnsafeBytes(of: cluster) { raw in
            #expect(raw.load(fromByteOffset: 0, as: UInt32.self) == 4)
            #expect(raw.load(fromByteOffset: 8, as: UInt32.self) == 2)
            #expect(raw.load(fromByteOffset: 12, as: UInt32.self) == 3)
            #expect(raw.load(fromByteOffset: 16, as: UInt32.self) == 4)
            #expect(raw.load(fromByteOffset: 20, as: UInt32.self) == 0)
        }
        let pdl = CULaunchAttributeMirror.programmaticStreamSerialization(true)
        #expect(pdl.id == 6)
        withUnsafeBytes(of: pdl) { raw in
            #expect(raw.load(fromByteOffset: 8, as: Int32.self) == 1)
        }
    }

    @Test("A TensorMap value is 128 bytes")
    func tensorMapSize() throws {
        #expect(MemoryLayout<TensorMap>.size == 128)
        #expect(TensorMap.byteCount == 128)
        #expect(TensorMap.alignment % 64 == 0)
        let bytes = (0..<128).map { UInt8($0) }
        let map = try TensorMap(bytes: bytes)
        #expect(map.bytes == bytes)
        #expect(map == (try TensorMap(bytes: bytes)))
        #expect(map != TensorMap())
        #expect(throws: CUDAError.self) { _ = try TensorMap(bytes: [1, 2, 3]) }
    }
}
