// GridPlan: the configurations of a grid a command runs, each checked before anything is allocated.
import FlashMLA
import FlashMLATesting

/// The configurations of a grid that `bench` or `check` will run, each checked before anything is
/// allocated: its fields (``BenchConfig/problems()``), then its tensors' sizes against the memory
/// limit (first a bound that needs no lengths, then, with its lengths resolved, the exact sizes).
///
/// Both commands read grid files through ``BenchGrid/load(path:)`` and check them here, so they
/// accept exactly the same files.
struct GridPlan {
    /// Which command's tensors the sizes are those of.
    enum Layout: Sendable {
        /// `flashmla bench` (``BenchInputs``).
        case bench
        /// `flashmla check` (``RandomProblem``).
        case check
    }

    /// One configuration to run.
    struct Entry: Equatable {
        /// Its position in the grid (from 0): it seeds the inputs, so `--only` changes nothing else.
        var index: Int
        /// The configuration.
        var config: BenchConfig
        /// Each request's cached length.
        var lengths: [Int32]
        /// The bytes of its tensors.
        var bytes: Int
    }

    /// The grid.
    var grid: BenchGrid
    /// The selected configurations, in grid order.
    var entries: [Entry]

    /// Selects and checks the configurations of `grid`.
    /// - Parameters:
    ///   - source: how errors name the grid (its path, or `built-in grid`).
    ///   - only: the `--only` options' texts; repeated, their terms apply together.
    ///   - kvFormat: the command's `--kv-format`: the layout of configurations without `kv_format`
    ///     (each entry's ``BenchConfig/kvFormat`` is set to the layout it runs with).
    ///   - pageSize: the largest page size a sparse configuration's cache may have (its estimate).
    ///   - lengthSeed: the seed of a `varlen` draw for the configuration at an index.
    /// - Throws: ``UsageError`` for an empty grid, a filter that selects nothing, or the first bad
    ///   field or size (naming the configuration and the field); `ValidationError` for a
    ///   malformed `--only`.
    init(grid: BenchGrid, source: String, only onlyOptions: [String], layout: Layout, elementBytes: Int, memoryLimitBytes: Int,
         kvFormat flag: KVFormatChoice = .native, pageSize: Int = TileSchedule.blockSize,
         lengthSeed: (Int) -> UInt64) throws {
        self.grid = grid
        guard !grid.configs.isEmpty else {
            throw UsageError(source, expected: "at least one configuration in \"configs\"", given: "an empty list")
        }
        let only = onlyOptions.isEmpty ? nil : onlyOptions.joined(separator: ",")
        let filter = try only.map(ConfigFilter.init(parsing:)) ?? ConfigFilter()
        let resolved = grid.configs.map { config in
            var config = config
            config.kvFormat = config.kvFormat ?? flag
            return config
        }
        let selected = resolved.enumerated().filter { filter.accepts($0.element) }
        if selected.isEmpty, let only {
            throw UsageError("--only \(only)",
                             expected: "a filter that selects at least one of the \(grid.configs.count) configuration(s) of \(grid.name)",
                             given: "one that selects none (the grid has \(filter.valuesPresent(in: resolved)))")
        }
        entries = []
        for (index, config) in selected {
            let place = "\(source): configs[\(index)]"
            if let problem = grid.configs[index].problems(kvFormat: flag).first {
                throw UsageError("\(place).\(problem.field)", expected: problem.expected, given: problem.given)
            }
            func estimate(_ lengths: LengthSummary) -> MemoryEstimate {
                if config.topk != nil {
                    return MemoryEstimate.sparse(config, lengths: lengths, elementBytes: elementBytes,
                                                 format: config.kvFormat ?? flag, pageSize: pageSize)
                }
                switch layout {
                case .bench: return MemoryEstimate.bench(config, lengths: lengths, elementBytes: elementBytes)
                case .check: return MemoryEstimate.check(config, lengths: lengths, elementBytes: elementBytes)
                }
            }
            let field = "\(place) (\(config.summary))"
            _ = try estimate(config.lengthSummaryLowerBound).check(limitBytes: memoryLimitBytes, field: field)
            let lengths = config.resolvedCacheSeqlens(seed: lengthSeed(index))
            let bytes = try estimate(LengthSummary(lengths)).check(limitBytes: memoryLimitBytes, field: field)
            entries.append(Entry(index: index, config: config, lengths: lengths, bytes: bytes))
        }
    }
}

extension ConfigFilter {
    /// The values the grid holds for each key this filter names, e.g. `h_q = 16, 128`.
    func valuesPresent(in configs: [BenchConfig]) -> String {
        allowed.keys.sorted().map { key in
            var seen: [String] = []
            for config in configs {
                if let text = config.fieldText(key), !seen.contains(text) { seen.append(text) }
            }
            return "\(key) = \(seen.joined(separator: ", "))"
        }.joined(separator: "; ")
    }
}
