import Foundation

/// CPU time (user + system) spent by the servers under test and by PostgreSQL over a
/// measurement, from /proc: the figure that holds on a shared machine where wall time does not.
///
/// PostgreSQL's share is the postmaster's and every process it started (backends, WAL writer,
/// checkpointer…) that is alive at both readings.
struct CPUMeter: Sendable {
    let servers: [Int32]
    let postmaster: Int32?

    struct Reading: Sendable {
        var servers: Double
        /// PostgreSQL's processes and their CPU seconds: a process that exits between two
        /// readings (the pool closing an idle connection) takes its time with it, so only the
        /// processes present at both are compared.
        var postgres: [Int32: Double]

        func postgresSeconds(since start: Reading) -> Double {
            postgres.reduce(0) { total, entry in
                guard let before = start.postgres[entry.key] else { return total }
                return total + (entry.value - before)
            }
        }
    }

    func read() -> Reading {
        Reading(
            servers: servers.reduce(0) { $0 + ProcessStats(pid: $1).cpuSeconds },
            postgres: postmaster.map { Self.postgresSeconds(postmaster: $0) } ?? [:]
        )
    }

    /// Prints CPU per delivered message (or per `unit`) between `start` and now.
    func report(since start: Reading, messages: Int, seconds: Double, unit: String = "delivered message") {
        guard messages > 0 else { return }
        let end = read()
        let server = end.servers - start.servers
        if !servers.isEmpty {
            let perUnit = String(format: "%.1f", server / Double(messages) * 1e6)
            print(
                "  server CPU: \(perUnit) µs per \(unit) (\(String(format: "%.1f", server / seconds * 100)) % of one core)"
            )
        }
        if postmaster != nil {
            let postgres = end.postgresSeconds(since: start)
            print(
                String(
                    format: "  PostgreSQL CPU: %.0f µs per message (%.1f %% of one core)",
                    postgres / Double(messages) * 1e6, postgres / seconds * 100))
        }
    }

    private static func postgresSeconds(postmaster: Int32) -> [Int32: Double] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [:] }
        var seconds = [postmaster: ProcessStats(pid: postmaster).cpuSeconds]
        for entry in entries {
            guard let pid = Int32(entry), pid != postmaster, parent(of: pid) == postmaster else { continue }
            seconds[pid] = ProcessStats(pid: pid).cpuSeconds
        }
        return seconds
    }

    private static func parent(of pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // After the command: state, then the parent's pid.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }
}
