import NIOCore
import Testing

@testable import ParleyPostgres
@testable import ParleyTesting

@Suite("COPY text format")
struct PostgresCopyTextTests {
    @Test func escapesWhatWouldBreakTheFramingAndNothingElse() {
        var rows = PostgresCopyText()
        rows.append("plain ünïcödé 🎉")
        rows.append("tab\there, two\nlines, cr\r, back\\slash")
        rows.append(String?.none)
        rows.append(Int64(-1_700_000_000_123))
        rows.append(Int64?.none)
        rows.endRow()
        rows.append("")
        rows.endRow()
        #expect(
            String(buffer: rows.buffer)
                == "plain ünïcödé 🎉\ttab\\there, two\\nlines, cr\\r, back\\\\slash\t\\N\t-1700000000123\t\\N\n\n")
    }
}
