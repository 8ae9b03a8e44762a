// Tests of ProgressLine.
import Foundation
import Testing
@testable import FlashMLACLI

/// The progress line: drawn in place on a terminal, absent when standard error is piped.
@Suite struct ProgressLineTests {
    /// Collected writes and a settable clock.
    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var parts: [String] = []
        private var seconds = 100.0
        var text: String { lock.withLock { parts.joined() } }
        func write(_ part: String) { lock.withLock { parts.append(part) } }
        func advance(_ by: Double) { lock.withLock { seconds += by } }
        var now: Double { lock.withLock { seconds } }
    }

    private func progress(enabled: Bool, _ recorder: Recorder) -> ProgressLine {
        ProgressLine(enabled: enabled, ticking: false, write: { recorder.write($0) }, now: { recorder.now })
    }

    @Test func pipedWritesOnlyNotes() {
        let recorder = Recorder()
        let progress = progress(enabled: false, recorder)
        progress.start("compiling decode.cu (1/2)")
        recorder.advance(5)
        progress.tick()
        progress.note("a line")
        progress.finish()
        #expect(recorder.text == "a line\n")
    }

    @Test func terminalRedrawsWithElapsedSeconds() {
        let recorder = Recorder()
        let progress = progress(enabled: true, recorder)
        let clear = ProgressLine.clearLine
        progress.start("compiling sm90/decode_seesaw.cu (3/5)")
        recorder.advance(12.7)
        progress.tick()
        progress.note("[3/5] done")
        progress.finish()
        progress.finish()  // nothing shown: nothing to clear
        #expect(recorder.text == clear + "compiling sm90/decode_seesaw.cu (3/5)… 0 s"
            + clear + "compiling sm90/decode_seesaw.cu (3/5)… 12 s"
            + clear + "[3/5] done\n" + clear + "compiling sm90/decode_seesaw.cu (3/5)… 12 s"
            + clear)
    }

    @Test func compileLabel() {
        #expect(CompileCommand.progressLabel(unit: "sm90/decode_seesaw.cu", architecture: "sm_90a", position: 2,
                                             count: 5, architectures: 1) == "compiling sm90/decode_seesaw.cu (3/5)")
        #expect(CompileCommand.progressLabel(unit: "combine.cu", architecture: "sm_80", position: 6, count: 8,
                                             architectures: 2) == "compiling combine.cu for sm_80 (7/8)")
    }
}
