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
        /// The servers' threads' time on a CPU and times switched in, from schedstat.
        var serverSchedule: Schedule
        var postgresSchedule: [Int32: Schedule]
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
        let postgres = postmaster.map { Self.postgresProcesses(postmaster: $0) } ?? []
        return Reading(
            servers: servers.reduce(0) { $0 + ProcessStats(pid: $1).cpuSeconds },
            serverSchedule: servers.reduce(Schedule()) { $0 + Schedule(threadsOf: $1) },
            postgresSchedule: Dictionary(uniqueKeysWithValues: postgres.map { ($0, Schedule(threadsOf: $0)) }),
            postgres: Dictionary(uniqueKeysWithValues: postgres.map { ($0, ProcessStats(pid: $0).cpuSeconds) })
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
        if !servers.isEmpty {
            let schedule = end.serverSchedule - start.serverSchedule
            print(schedule.line("server", messages: messages, unit: unit))
        }
        if postmaster != nil {
            let schedule = end.postgresSchedule.reduce(Schedule()) { total, entry in
                guard let before = start.postgresSchedule[entry.key] else { return total }
                return total + (entry.value - before)
            }
            print(schedule.line("PostgreSQL", messages: messages, unit: "message"))
        }
        if postmaster != nil {
            let postgres = end.postgresSeconds(since: start)
            print(
                String(
                    format: "  PostgreSQL CPU: %.0f µs per message (%.1f %% of one core)",
                    postgres / Double(messages) * 1e6, postgres / seconds * 100))
        }
    }

    /// The postmaster and every process it started.
    private static func postgresProcesses(postmaster: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [postmaster] }
        return [postmaster]
            + entries.compactMap { entry in
                guard let pid = Int32(entry), pid != postmaster, parent(of: pid) == postmaster else { return nil }
                return pid
            }
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

/// Time on a CPU and the number of times switched in, summed over a process's threads, from
/// /proc/<pid>/task/*/schedstat: exact (not sampled at clock ticks as user + system time is),
/// and the switches count the wake-ups that each cost a message at everyday rates.
struct Schedule: Sendable {
    var runNanoseconds: Int = 0
    var switches: Int = 0

    init() {}

    init(threadsOf pid: Int32) {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        for task in tasks {
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/schedstat", encoding: .utf8)
            else { continue }
            let fields = text.split(separator: " ").map { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 }
            guard fields.count >= 3 else { continue }
            runNanoseconds += fields[0]
            switches += fields[2]
        }
    }

    static func + (a: Schedule, b: Schedule) -> Schedule {
        var sum = a
        sum.runNanoseconds += b.runNanoseconds
        sum.switches += b.switches
        return sum
    }

    static func - (a: Schedule, b: Schedule) -> Schedule {
        var difference = a
        difference.runNanoseconds -= b.runNanoseconds
        difference.switches -= b.switches
        return difference
    }

    func line(_ who: String, messages: Int, unit: String) -> String {
        let run = String(format: "%.0f", Double(runNanoseconds) / Double(messages) / 1000)
        let switched = String(format: "%.1f", Double(switches) / Double(messages))
        return "  \(who) on CPU (schedstat): \(run) µs per \(unit), switched in \(switched) times per \(unit)"
    }
}
