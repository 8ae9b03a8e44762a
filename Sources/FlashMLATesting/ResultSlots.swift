// ResultSlots: one slot per parallel worker, for results computed with concurrentPerform.

/// Slots that parallel workers fill, each its own index once. The storage is a raw
/// allocation, not an array property, so concurrent writes to distinct slots do not
/// overlap any exclusive access.
public final class ResultSlots<Element>: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<Element?>
    private let count: Int
    /// `count` empty slots.
    public init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
    }
    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }
    /// The value worker `index` stored (it must have stored one before it is read).
    public subscript(index: Int) -> Element {
        get { slots[index]! }
        set { slots[index] = newValue }
    }
}
