import Foundation

/// What another process holds at one moment, from /proc: resident memory, open file
/// descriptors (sockets included), threads and CPU time so far.
struct ProcessSample: Sendable {
    let residentBytes: Int
    let descriptors: Int
    let threads: Int
    let cpuSeconds: Double

    var residentMiB: Double { Double(residentBytes) / 1_048_576 }
}

extension ProcessStats {
    /// Whether the process is still there.
    var isRunning: Bool { FileManager.default.fileExists(atPath: "/proc/\(pid)/status") }

    /// Entries of /proc/<pid>/fd (needs the same user or root); -1 when unreadable.
    var openDescriptors: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    var threads: Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Threads:") })
        else { return 0 }
        return line.split(separator: "\t").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.first ?? 0
    }

    func sample() -> ProcessSample {
        ProcessSample(
            residentBytes: residentBytes, descriptors: openDescriptors, threads: threads, cpuSeconds: cpuSeconds)
    }
}
