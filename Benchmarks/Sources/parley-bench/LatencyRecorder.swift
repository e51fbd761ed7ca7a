/// Collects latencies and reports percentiles.
struct LatencyRecorder: Sendable {
    private(set) var samples: [Duration] = []

    mutating func record(_ duration: Duration) {
        samples.append(duration)
    }

    mutating func merge(_ other: LatencyRecorder) {
        samples.append(contentsOf: other.samples)
    }

    var count: Int { samples.count }

    func percentile(_ fraction: Double) -> Duration {
        guard !samples.isEmpty else { return .zero }
        let sorted = samples.sorted()
        let index = min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)
        return sorted[max(0, index)]
    }

    var summary: String {
        "n=\(count) p50=\(percentile(0.5).milliseconds) p90=\(percentile(0.9).milliseconds) "
            + "p99=\(percentile(0.99).milliseconds) max=\(percentile(1).milliseconds)"
    }
}

extension Duration {
    /// Milliseconds with two decimals, e.g. "1.25ms".
    var milliseconds: String {
        let (seconds, attoseconds) = components
        let value = Double(seconds) * 1000 + Double(attoseconds) / 1e15
        return String(format2: value) + "ms"
    }

    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

extension String {
    init(format2 value: Double) {
        let scaled = (value * 100).rounded()
        let whole = Int(scaled) / 100
        let fraction = abs(Int(scaled)) % 100
        self = "\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
