import ParleyChat
import ParleyDomain
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Shows a copy's progress on standard error: one line redrawn in place on a terminal, a plain
/// line every few seconds (and at the end of each phase) otherwise, so logs stay readable.
final class CopyProgressDisplay: Sendable {
    private struct State {
        var phase: CopyProgress.Phase?
        var collection: CopyCollection?
        var started = ContinuousClock.now
        var lastShown = ContinuousClock.now
    }

    private let state = Mutex(State())
    private let interactive: Bool
    private let interval: Duration

    init(interactive: Bool = isatty(STDERR_FILENO) == 1) {
        self.interactive = interactive
        self.interval = interactive ? .milliseconds(100) : .seconds(5)
    }

    func show(_ progress: CopyProgress) {
        let now = ContinuousClock.now
        let line: String? = state.withLock { state in
            if state.phase != progress.phase || state.collection != progress.collection {
                state.phase = progress.phase
                state.collection = progress.collection
                state.started = now
                state.lastShown = now
                return interactive ? Self.line(progress, elapsed: .zero) : nil
            }
            guard progress.finished || now - state.lastShown >= interval else { return nil }
            state.lastShown = now
            return Self.line(progress, elapsed: now - state.started)
        }
        guard let line else { return }
        if interactive {
            emit("\r\u{1B}[2K" + line + (progress.finished ? "\n" : ""))
        } else {
            emit(line + "\n")
        }
    }

    static func line(_ progress: CopyProgress, elapsed: Duration) -> String {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(progress.done) / seconds : 0
        var line = "\(progress.phase.rawValue) \(progress.collection.rawValue): \(grouped(progress.done))"
        if progress.total > 0 && !progress.finished {
            let percent = min(100, Double(progress.done) * 100 / Double(progress.total))
            line += " of \(grouped(progress.total)) (\(Int(percent))%)"
        }
        if rate > 0 { line += ", \(grouped(Int(rate)))/s" }
        if progress.finished {
            line += ", done in \(clock(seconds))"
        } else if rate > 0, progress.total > progress.done {
            line += ", ETA \(clock(Double(progress.total - progress.done) / rate))"
        }
        return line
    }

    /// 1234567 → "1,234,567".
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(digit)
        }
        return value < 0 ? "-" + result : result
    }

    /// Seconds as `m:ss` (or `h:mm:ss`).
    static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let (hours, minutes, secs) = (total / 3600, total / 60 % 60, total % 60)
        let twoDigits = { (value: Int) in value < 10 ? "0\(value)" : "\(value)" }
        return hours > 0 ? "\(hours):\(twoDigits(minutes)):\(twoDigits(secs))" : "\(minutes):\(twoDigits(secs))"
    }

    private func emit(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count)
        }
    }
}
