import ParleyChat
import ParleyDomain

/// A copy's report as the summary `parley copy` prints.
struct CopyReportText {
    let report: CopyReport
    let options: CopyOptions

    var text: String {
        var lines: [String] = []
        for collection in CopyCollection.allCases {
            let counts = report[collection]
            var line =
                "\(collection.rawValue): \(counts.sourceCount) in the source, \(counts.targetCount) in the target"
            if report.outcome != .dryRun && report.outcome != .refused {
                line += "; read \(counts.read), inserted \(counts.inserted), already there \(counts.alreadyPresent)"
                line += ", skipped \(counts.skipped)"
            }
            lines.append(line)
        }
        if report.outcome != .dryRun && report.outcome != .refused && report.readPositions > 0 {
            lines.append("members' read positions in groups moved forward: \(report.readPositions)")
        }
        if report.outcome != .dryRun && report.outcome != .refused && report.tokenRevocations.read > 0 {
            lines.append(
                "logged-out tokens (still refused on the target): read \(report.tokenRevocations.read), "
                    + "inserted \(report.tokenRevocations.inserted)")
        }
        if let resumedAfter = report.resumedAfter {
            lines.append("resumed after message \(resumedAfter), the last one the target had")
        }
        if report.conflictCount > 0 {
            lines.append("conflicts: \(report.conflictCount)")
            lines += report.conflicts.map { "  \($0)" }
            if report.conflictCount > report.conflicts.count {
                lines.append("  … and \(report.conflictCount - report.conflicts.count) more")
            }
        }
        switch report.outcome {
        case .completed:
            lines.append(
                report.conflictCount > 0
                    ? "Done; \(report.conflictCount) conflicting records were skipped. "
                        + "After fixing them, run again with --full to copy the messages they held back."
                    : "Done."
            )
        case .dryRun:
            lines.append(
                report.conflictCount > 0
                    ? "Dry run: nothing written. With --on-conflict fail this copy would stop before writing."
                    : "Dry run: nothing written, no conflicts."
            )
        case .refused:
            lines.append(
                "Nothing was written: fix the conflicts above, or run with --on-conflict skip to copy everything else."
            )
        case .stopped:
            lines.append(
                "Stopped at a conflict that appeared while copying; what was copied before it stays. Run again to resume."
            )
        }
        return lines.joined(separator: "\n")
    }
}
