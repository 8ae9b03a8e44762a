// The cache-layout options of `check` and `bench` (`--kv-format`, `--page-size`) as arguments.
import ArgumentParser
import FlashMLATesting

extension KVFormatChoice: ExpressibleByArgument {}

extension PageSizeChoice: ExpressibleByArgument {}
