// The argument checks of the softmax scale and the attention sink.
extension Validation {
    /// The softmax scale a call uses (`nil`: `1/√headDim`, `1/√576` or MODEL1's `1/√512`), which
    /// must be finite and > 0.
    static func checkSoftmaxScale(_ softmaxScale: Float?, headDim: Int = DecodeProblem.headDim) throws(MLAError) -> Float {
        let scale = softmaxScale ?? 1 / Float(headDim).squareRoot()
        guard scale.isFinite, scale > 0 else {
            throw .invalidArgument(argument: "softmaxScale", expected: "finite and > 0", given: "\(scale)")
        }
        return scale
    }

    /// Throws unless `attnSink` is nil or a contiguous Float32 `[h_q]` in `backend`'s memory.
    /// Its values may be anything (`±∞` included: `+∞` zeroes a head's output, `−∞` leaves it).
    static func checkAttnSink(_ attnSink: TensorView?, queryHeads: Int, backend: Backend) throws(MLAError) {
        guard let attnSink else { return }
        try checkRank(attnSink, "attnSink", 1, layout: "[h_q]")
        try checkType(attnSink, "attnSink", .float32)
        try checkShape(attnSink, "attnSink", [queryHeads])
        try checkContiguous(attnSink, "attnSink")
        try checkStorage(attnSink, "attnSink", backend: backend)
    }
}
