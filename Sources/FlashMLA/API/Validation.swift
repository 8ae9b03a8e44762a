// Validation: the single argument checks that the validating types compose.
/// The argument checks of the engine's calls: the single checks here, composed by
/// ``DecodeInputs``, ``DecodeProblem`` and ``MetadataRequest``.
///
/// Every check runs before any work is done and before any output is written; a failure
/// throws ``MLAError/invalidArgument(argument:expected:given:)`` naming the argument, what
/// was expected and what was given.
enum Validation {
    /// Throws unless `q` (of rank 4) is `[b, s_q, h_q, headDim]` (576, or MODEL1's 512) with
    /// `b, s_q, h_q ≥ 1` and `headDimV` is 512; returns `(b, s_q, h_q)`.
    static func checkQueryShape(_ q: TensorView, headDimV: Int,
                                headDim: Int = DecodeProblem.headDim) throws(MLAError) -> (b: Int, sQ: Int, hQ: Int) {
        let valueDim = DecodeProblem.headDimV
        let b = q.shape[0], sQ = q.shape[1], hQ = q.shape[2]
        guard b >= 1, sQ >= 1, hQ >= 1, q.shape[3] == headDim else {
            throw .invalidArgument(argument: "q", expected: "[b, s_q, h_q, \(headDim)] with b, s_q, h_q >= 1",
                                   given: q.shapeDescription)
        }
        guard headDimV == valueDim else {
            throw .invalidArgument(argument: "headDimV", expected: "\(valueDim)", given: "\(headDimV)")
        }
        return (b, sQ, hQ)
    }

    /// The elements of a host Int32 view in row-major order of its shape, honouring its strides.
    static func hostInt32(_ view: TensorView) -> [Int32] {
        precondition(view.elementType == .int32, "hostInt32 needs an int32 view, given \(view.elementType)")
        let elements = HostElements(view)
        var values = [Int32]()
        values.reserveCapacity(view.elementCount)
        elements.forEachOffset { values.append(elements.int32(offset: $0)) }
        return values
    }

    // MARK: - Single checks, shared by both calls

    /// Throws unless `view` has `rank` dimensions; `layout` names them, e.g. `[b, s_q, h_q, 576]`.
    static func checkRank(_ view: TensorView, _ argument: String, _ rank: Int, layout: String) throws(MLAError) {
        guard view.rank == rank else {
            throw .invalidArgument(argument: argument, expected: "rank \(rank) \(layout)",
                                   given: "rank \(view.rank) \(view.shapeDescription)")
        }
    }

    /// Throws unless `view` holds elements of `type`.
    static func checkType(_ view: TensorView, _ argument: String, _ type: ElementType) throws(MLAError) {
        guard view.elementType == type else {
            throw .invalidArgument(argument: argument, expected: "\(type)", given: "\(view.elementType)")
        }
    }

    /// Throws unless `view` has exactly `shape`.
    static func checkShape(_ view: TensorView, _ argument: String, _ shape: [Int]) throws(MLAError) {
        guard view.shape == shape else {
            let expected = TensorView(elementType: view.elementType, shape: shape, storage: view.storage)
            throw .invalidArgument(argument: argument, expected: expected.shapeDescription,
                                   given: view.shapeDescription)
        }
    }

    /// Throws unless `view` is laid out densely in row-major order.
    static func checkContiguous(_ view: TensorView, _ argument: String) throws(MLAError) {
        guard view.isContiguous else {
            throw .invalidArgument(
                argument: argument,
                expected: "contiguous strides \(TensorView.contiguousStrides(for: view.shape))",
                given: "strides \(view.strides) for \(view.shapeDescription)")
        }
    }

    /// Throws unless the innermost dimension of `view` has stride 1 (or extent 1).
    static func checkInnermostStride(_ view: TensorView, _ argument: String) throws(MLAError) {
        guard let extent = view.shape.last, let stride = view.strides.last, extent > 1 else { return }
        guard stride == 1 else {
            throw .invalidArgument(argument: argument, expected: "innermost stride 1",
                                   given: "strides \(view.strides) for \(view.shapeDescription)")
        }
    }

    /// Throws unless `view` lives where `backend` reads it: host memory for `.cpu`, the
    /// memory of that device for `.cuda`.
    static func checkStorage(_ view: TensorView, _ argument: String, backend: Backend) throws(MLAError) {
        switch backend {
        case .cpu:
            guard view.hostPointer == nil else { return }
            throw .invalidArgument(argument: argument, expected: "host memory (backend cpu)",
                                   given: storageDescription(view.storage))
        case let .cuda(device):
            guard view.storage.deviceOrdinal != device else { return }
            throw .invalidArgument(argument: argument, expected: "device memory of cuda:\(device)",
                                   given: storageDescription(view.storage))
        }
    }

    /// `host memory` or `device memory of cuda:N`.
    static func storageDescription(_ storage: TensorStorage) -> String {
        switch storage {
        case .host: "host memory"
        case let .device(ordinal, _): "device memory of cuda:\(ordinal)"
        }
    }
}

extension Validation {
    /// Throws unless every page that a request of length `lengths[i]` uses — entries
    /// `0 ..< ⌈lengths[i]/pageSize⌉` of its row — names a page of the cache.
    static func checkBlockIDs(_ blockTable: TensorView, lengths: [Int32], numPages: Int, pageSize: Int) throws(MLAError) {
        let table = HostElements(blockTable)
        for (request, length) in lengths.enumerated() {
            let used = (Int(length) + pageSize - 1) / pageSize
            for page in 0..<used {
                let id = table.int32(offset: table.offset([request, page]))
                guard id >= 0, Int(id) < numPages else {
                    throw .invalidArgument(argument: "blockTable[\(request)][\(page)]",
                                           expected: "0..<\(numPages) (a page of kCache)", given: "\(id)")
                }
            }
        }
    }
}
