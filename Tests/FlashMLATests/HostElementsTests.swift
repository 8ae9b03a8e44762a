// Tests of HostElements' hold on the tensor it reads.
import Testing
@testable import FlashMLA

/// `HostElements(tensor)` keeps the tensor (and so its host memory) alive: reading a temporary
/// such as `HostElements(cuda.download(x)).load()` must not read freed memory. (With the view
/// initializer, Swift may free the tensor right after `.view` is read; malloc then overwrites
/// its first 16–32 bytes, which is how `check-sparse` once reported wrong lse on the H200.)
@Suite struct HostElementsTests {
    @Test func holdsTheTensor() {
        weak var watched: Tensor?
        let elements: HostElements = {
            let tensor = Tensor([1, 2, 3, 4], as: .float32, shape: [4])
            watched = tensor
            return HostElements(tensor)
        }()
        #expect(watched != nil)
        #expect(elements.load() == [1, 2, 3, 4])
    }
}
