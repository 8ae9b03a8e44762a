// MLASchedule: FlashMLA's lazily filled scheduling object.
import Synchronization

/// FlashMLA's current scheduling object (`FlashMLASchedMeta`): created empty, filled by the
/// first decode call that uses it, reused by later calls of the same shapes.
///
/// ```swift
/// let schedule = MLASchedule()                    // once per decode step
/// for layer in layers {                           // the first call computes the schedule
///     let (out, lse) = try engine.flashMLAWithKVCache(
///         q: q.view, kCache: layer.cache.view, indices: SparseIndices(indices: topk.view),
///         headDimV: 512, schedule: schedule, kvFormat: .fp8DeepSeek)
/// }
/// ```
///
/// The first call validates its arguments, then computes the schedule (on CUDA: allocates its
/// two small tensors, once, and queues the scheduler kernel on the call's stream, no host wait)
/// and records the call's ``Configuration``. A later call whose configuration differs throws
/// ``MLAError/invalidArgument(argument:expected:given:)`` naming `schedule`, before any work;
/// as in FlashMLA, the request lengths (`cacheSeqlens`, `topkLength`) must not change either,
/// which is not checked (the device's values are not read).
public final class MLASchedule: Sendable {
    /// What a schedule was made for: FlashMLA's `FlashMLASchedMeta.Config`.
    public struct Configuration: Equatable, Sendable, CustomStringConvertible {
        /// Requests, `b`.
        public var batchSize: Int
        /// Query tokens per request, `s_q`.
        public var queryLength: Int
        /// Query heads, `h_q`.
        public var queryHeads: Int
        /// Tokens a cache page (dimension 1 of `kCache`).
        public var pageSize: Int
        /// KV heads, `h_kv`.
        public var kvHeads: Int
        /// Whether the calls are causal (dense only).
        public var causal: Bool
        /// The cache's format.
        public var kvFormat: KVCacheFormat
        /// Entries per index list for sparse decoding; nil for dense.
        public var topk: Int?
        /// Entries per extra index list (`extra_topk`) with an extra cache; nil without one.
        public var extraTopk: Int?
        /// Tokens a page of the extra cache; nil without one.
        public var extraPageSize: Int?

        /// Creates a configuration.
        public init(batchSize: Int, queryLength: Int, queryHeads: Int, pageSize: Int, kvHeads: Int,
                    causal: Bool, kvFormat: KVCacheFormat, topk: Int?, extraTopk: Int? = nil, extraPageSize: Int? = nil) {
            self.batchSize = batchSize
            self.queryLength = queryLength
            self.queryHeads = queryHeads
            self.pageSize = pageSize
            self.kvHeads = kvHeads
            self.causal = causal
            self.kvFormat = kvFormat
            self.topk = topk
            self.extraTopk = extraTopk
            self.extraPageSize = extraPageSize
        }

        /// The configuration of validated inputs.
        public init(_ inputs: DecodeInputs) {
            self.init(batchSize: inputs.batchSize, queryLength: inputs.queryLength, queryHeads: inputs.queryHeads,
                      pageSize: inputs.pageSize, kvHeads: inputs.kvHeads, causal: inputs.causal,
                      kvFormat: inputs.kvFormat, topk: inputs.sparse?.topk,
                      extraTopk: inputs.hasExtraCache ? inputs.sparse?.extraTopk : nil,
                      extraPageSize: inputs.hasExtraCache ? inputs.extraPageSize : nil)
        }

        public var description: String {
            "b=\(batchSize), s_q=\(queryLength), h_q=\(queryHeads), pageSize=\(pageSize), h_kv=\(kvHeads), "
                + "causal=\(causal), kvFormat=\(kvFormat), topk=\(topk.map(String.init) ?? "nil (dense)")"
                + (extraTopk.map { ", extraTopk=\($0), extraPageSize=\(extraPageSize ?? 0)" } ?? "")
        }
    }

    private let stored = Mutex(Stored())

    /// What the first call stored: nothing while the schedule is empty.
    private struct Stored {
        var configuration: Configuration?
        var metadata: MLAMetadata?
    }

    /// An empty schedule; the first decode call that uses it fills it.
    public init() {}

    /// The configuration of the call that filled the schedule, or nil while it is empty.
    public var configuration: Configuration? { stored.withLock { $0.configuration } }

    /// The schedule's metadata, or nil while it is empty.
    public var metadata: MLAMetadata? { stored.withLock { $0.metadata } }

    /// Throws unless the schedule is empty or was filled for `configuration`.
    func check(_ configuration: Configuration) throws(MLAError) {
        guard let stored = self.configuration, stored != configuration else { return }
        throw .invalidArgument(argument: "schedule", expected: "a call of the shapes it was made for (\(stored))",
                               given: "\(configuration)")
    }

    /// The stored metadata, or the one `make` computes, stored with `configuration`, on the
    /// first call. Calls that race to fill an empty schedule each compute theirs; the first stored wins.
    func resolve(_ configuration: Configuration, make: () throws(MLAError) -> MLAMetadata) throws(MLAError) -> MLAMetadata {
        try check(configuration)
        if let metadata { return metadata }
        let made = try make()
        return try stored.withLock { stored throws(MLAError) -> MLAMetadata in
            if let metadata = stored.metadata, let storedConfiguration = stored.configuration {
                guard storedConfiguration == configuration else {
                    throw .invalidArgument(argument: "schedule", expected: "a call of the shapes it was made for (\(storedConfiguration))",
                                           given: "\(configuration)")
                }
                return metadata
            }
            stored.configuration = configuration
            stored.metadata = made
            return made
        }
    }
}
