import Foundation
import Synchronization

/// What the soak times.
enum SoakKind: String, CaseIterable, Sendable {
    case login, send, read, connect, ack
}

/// What the soak's traffic did since the last sample: latencies by kind, and failures by what
/// failed and how.
struct SoakInterval: Sendable {
    var latencies: [SoakKind: LatencyRecorder] = [:]
    /// "what: message" to how many times.
    var errors: [String: Int] = [:]

    var operations: Int { latencies.values.reduce(0) { $0 + $1.count } }
    var errorCount: Int { errors.values.reduce(0, +) }
}

/// Collects the traffic's outcomes from every task; the reporter takes them interval by interval.
final class SoakStats: Sendable {
    private let current = Mutex(SoakInterval())
    private let totals = Mutex<[String: Int]>([:])

    func record(_ kind: SoakKind, _ latency: Duration) {
        current.withLock { $0.latencies[kind, default: .init()].record(latency) }
    }

    /// Counts a failure of `what` (a kind, or `socket` for one that ended unasked); messages are
    /// grouped with ids and numbers that vary blanked out.
    func fail(_ what: String, _ message: String) {
        let key = "\(what): \(Self.normalized(message))"
        current.withLock { $0.errors[key, default: 0] += 1 }
        totals.withLock { $0[key, default: 0] += 1 }
    }

    /// What happened since the last call.
    func take() -> SoakInterval {
        current.withLock { interval in
            defer { interval = SoakInterval() }
            return interval
        }
    }

    /// Every failure of the run so far.
    var allErrors: [String: Int] { totals.withLock { $0 } }

    private static func normalized(_ message: String) -> String {
        var text = message.replacing(/[0-9a-f]{24}/, with: "<id>")
        text = text.replacing(/sid=[A-Za-z0-9_-]+/, with: "sid=<sid>")
        text = text.replacing(/:[0-9]{4,5}/, with: ":<port>")
        return String(text.prefix(240))
    }
}

/// One line of the soak's output.
struct SoakRow: Sendable {
    let elapsed: Duration
    let server: ProcessSample
    /// Server CPU over the interval, in % of one core.
    let cpuPercent: Double
    let webSockets: Int
    let pollers: Int
    let interval: SoakInterval

    static let header =
        "  time  RSS MiB   fds  thr  cpu%  ws+poll    ops  err"
        + SoakKind.allCases.map { kind in
            "  " + "\(kind.rawValue) p50/p99".leftPadded(to: 17)
        }.joined() + " (ms)"

    var line: String {
        var text = "\(elapsed.clock.leftPadded(to: 6))"
        text += String(format2: server.residentMiB).leftPadded(to: 9)
        text += "\(server.descriptors)".leftPadded(to: 6)
        text += "\(server.threads)".leftPadded(to: 5)
        text += "\(Int(cpuPercent.rounded()))%".leftPadded(to: 6)
        text += "\(webSockets)+\(pollers)".leftPadded(to: 9)
        text += "\(interval.operations)".leftPadded(to: 7)
        text += "\(interval.errorCount)".leftPadded(to: 5)
        for kind in SoakKind.allCases {
            let recorder = interval.latencies[kind] ?? LatencyRecorder()
            let figures =
                recorder.count == 0
                ? "-"
                : "\(recorder.percentile(0.5).millisecondFigure)/\(recorder.percentile(0.99).millisecondFigure)"
            text += "  " + figures.leftPadded(to: 17)
        }
        return text
    }

    /// The interval's failures, most frequent first, a few of them.
    var errorLines: [String] {
        interval.errors.sorted { $0.value > $1.value }.prefix(5).map { "        \($0.value)x \($0.key)" }
    }

    func p99(_ kind: SoakKind) -> Duration? {
        guard let recorder = interval.latencies[kind], recorder.count > 0 else { return nil }
        return recorder.percentile(0.99)
    }
}

/// The end of the soak: the first minutes against the last, and whether memory and descriptors
/// stayed flat.
struct SoakSummary {
    let rows: [SoakRow]
    let duration: Duration
    /// Descriptors before the traffic started and once it had stopped and settled.
    let descriptorsBefore: Int
    let descriptorsAfter: Int
    let errors: [String: Int]

    /// The stretch compared at each end: five minutes, or a quarter of a shorter run.
    var window: Duration { min(.seconds(300), duration / 4) }

    /// RSS growth allowed after the first quarter (the warm-up), as a fraction.
    static let rssTolerance = 0.05

    /// How much slower a p99 may get from the first window to the last (and by more than 20 ms).
    static let latencyTolerance = 2.0

    /// How many more descriptors there may be after the traffic than before it.
    var descriptorBand: Int { Self.descriptorBand(before: descriptorsBefore) }

    static func descriptorBand(before: Int) -> Int { max(10, before / 10) }

    var lines: [String] {
        let first = rows.filter { $0.elapsed <= window }
        let last = rows.filter { $0.elapsed > duration - window }
        guard !first.isEmpty, !last.isEmpty else { return ["summary: too few samples"] }
        var lines = ["", "summary over \(duration.clock): first \(window.clock) against last \(window.clock)"]
        func compare(_ name: String, _ value: (SoakRow) -> Double?, unit: String, whole: Bool = false) {
            let a = average(first.compactMap(value))
            let b = average(last.compactMap(value))
            guard let a, let b else {
                lines.append("  \(name.rightPadded(to: 14)) -")
                return
            }
            let ratio = a > 0 ? "x" + String(format2: b / a) : "-"
            let (first, last) =
                whole ? ("\(Int(a.rounded()))", "\(Int(b.rounded()))") : (String(format2: a), String(format2: b))
            lines.append(
                "  \(name.rightPadded(to: 14))\(first.leftPadded(to: 10)) -> \(last.leftPadded(to: 9)) \(unit.rightPadded(to: 4)) \(ratio)"
            )
        }
        compare("RSS", { $0.server.residentMiB }, unit: "MiB")
        compare("fds", { Double($0.server.descriptors) }, unit: "", whole: true)
        compare("threads", { Double($0.server.threads) }, unit: "", whole: true)
        compare("server CPU", { $0.cpuPercent }, unit: "%")
        for kind in SoakKind.allCases {
            compare("\(kind.rawValue) p99", { $0.p99(kind).map { $0.seconds * 1000 } }, unit: "ms")
        }
        let growth = rssGrowth
        let warmUp = duration / 4
        lines.append(
            "  RSS growth after the first \(warmUp.clock) (least squares over the samples after it): "
                + (growth.map { "\($0 >= 0 ? "+" : "")\(String(format2: $0 * 100)) %" } ?? "-"))
        lines.append(
            "  fds gained after the first \(warmUp.clock) (likewise): "
                + (descriptorGrowth.map { "\($0 >= 0 ? "+" : "")\(String(format2: $0))" } ?? "-"))
        lines.append("  fds before the traffic: \(descriptorsBefore), after it stopped: \(descriptorsAfter)")
        let total = errors.values.reduce(0, +)
        lines.append("  errors: \(total)")
        for (key, count) in errors.sorted(by: { $0.value > $1.value }).prefix(20) {
            lines.append("    \(count)x \(key)")
        }

        var findings: [String] = []
        if let growth, growth >= Self.rssTolerance {
            findings.append("RSS +\(String(format2: growth * 100)) % after the warm-up")
        }
        // Connections come and go, and clients that fell silent stay until the server gives up on
        // them: during the traffic the band is a tenth of the level.
        let fdsLevel = average(first.map { Double($0.server.descriptors) }) ?? 0
        if let gained = descriptorGrowth, gained > max(Double(descriptorBand), fdsLevel / 10) {
            findings.append("fds +\(Int(gained.rounded())) after the warm-up")
        }
        if descriptorsAfter - descriptorsBefore > descriptorBand {
            findings.append("\(descriptorsAfter - descriptorsBefore) more fds after the traffic than before it")
        }
        for kind in SoakKind.allCases {
            guard let a = average(first.compactMap { $0.p99(kind)?.seconds }),
                let b = average(last.compactMap { $0.p99(kind)?.seconds }),
                b > a * Self.latencyTolerance, b - a > 0.02
            else { continue }
            findings.append("\(kind.rawValue) p99 x\(String(format2: b / a))")
        }
        let verdict =
            growth == nil
            ? "verdict: too few samples after the warm-up to tell"
            : findings.isEmpty
                ? "verdict: flat (RSS within \(Int(Self.rssTolerance * 100)) % after the warm-up, fds level and back to where they were, no p99 doubled)"
                : "verdict: GROWING (\(findings.joined(separator: "; ")))"
        lines.append(verdict)
        return lines
    }

    /// Relative RSS growth after the warm-up (the first quarter).
    var rssGrowth: Double? {
        guard let (start, end) = trend({ $0.server.residentMiB }), start > 0 else { return nil }
        return end / start - 1
    }

    /// Descriptors gained after the warm-up.
    var descriptorGrowth: Double? {
        trend { Double($0.server.descriptors) }.map { $0.end - $0.start }
    }

    /// Where a least-squares line through the samples after the first quarter starts and ends:
    /// single samples jump (the allocator, connections coming and going), the line's ends do not.
    private func trend(_ value: (SoakRow) -> Double) -> (start: Double, end: Double)? {
        let points = rows.filter { $0.elapsed >= duration / 4 }.map { ($0.elapsed.seconds, value($0)) }
        guard points.count >= 3 else { return nil }
        let n = Double(points.count)
        let meanX = points.map(\.0).reduce(0, +) / n
        let meanY = points.map(\.1).reduce(0, +) / n
        let sxx = points.map { ($0.0 - meanX) * ($0.0 - meanX) }.reduce(0, +)
        let sxy = points.map { ($0.0 - meanX) * ($0.1 - meanY) }.reduce(0, +)
        guard sxx > 0 else { return nil }
        let slope = sxy / sxx
        return (meanY + slope * (points.first!.0 - meanX), meanY + slope * (points.last!.0 - meanX))
    }

    private func average(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }
}

extension Duration {
    /// "m:ss".
    var clock: String {
        let total = Int(seconds.rounded())
        return "\(total / 60):\(total % 60 < 10 ? "0" : "")\(total % 60)"
    }

    /// Milliseconds with one decimal below 100, none above: "1.3", "240".
    var millisecondFigure: String {
        let value = seconds * 1000
        guard value < 100 else { return "\(Int(value.rounded()))" }
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? " " + self : String(repeating: " ", count: width - count) + self
    }

    func rightPadded(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
