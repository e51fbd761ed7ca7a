import Foundation
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

@Suite("Timestamp")
struct TimestampTests {
    @Test(
        arguments: [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        ] as [(Int64, String)])
    func formatsLikeJavaScript(milliseconds: Int64, expected: String) {
        let timestamp = Timestamp(millisecondsSince1970: milliseconds)
        #expect(timestamp.iso8601 == expected)
        #expect(Timestamp(iso8601: expected) == timestamp)
    }

    @Test func parsesOtherISOForms() {
        #expect(Timestamp(iso8601: "2023-11-14T22:13:20Z")?.millisecondsSince1970 == 1_700_000_000_000)
        #expect(Timestamp(iso8601: "2023-11-14T22:13:20.1Z")?.millisecondsSince1970 == 1_700_000_000_100)
        #expect(Timestamp(iso8601: "2023-11-14T22:13:20.123456Z")?.millisecondsSince1970 == 1_700_000_000_123)
        #expect(Timestamp(iso8601: "2023-11-15T00:13:20.000+02:00")?.millisecondsSince1970 == 1_700_000_000_000)
    }

    @Test(arguments: [
        "", "2023-11-14", "2023-13-01T00:00:00Z", "2023-11-14T22:13:20", "2023-11-14T22:13:20.Z",
        "x2023-11-14T22:13:20Z", "2023-11-14T22:13:20+99:99", "2023-11-14T22:13:20-24:00",
        "2023-11-14T22:13:20+01:60",
    ])
    func rejectsMalformedDates(_ string: String) {
        #expect(Timestamp(iso8601: string) == nil)
    }

    /// Times come from databases too, where any integer may be stored: none may trap.
    @Test func extremeTimesFormatAndComputeWithoutTrapping() {
        let earliest = Timestamp(millisecondsSince1970: .min)
        let latest = Timestamp(millisecondsSince1970: .max)
        #expect(earliest.iso8601 == Timestamp(millisecondsSince1970: -8_640_000_000_000_000).iso8601)
        #expect(latest.iso8601 == Timestamp(millisecondsSince1970: 8_640_000_000_000_000).iso8601)
        #expect(earliest.adding(milliseconds: -1) == earliest)
        #expect(latest.adding(milliseconds: 1) == latest)
        #expect(Timestamp.now().milliseconds(since: earliest) == .max)
        #expect(earliest.milliseconds(since: Timestamp.now()) == .min)
        #expect(Timestamp(millisecondsSince1970: 5).milliseconds(since: Timestamp(millisecondsSince1970: 2)) == 3)
    }

    @Test func survivesADateRoundTrip() {
        for _ in 0..<1000 {
            let timestamp = Timestamp(millisecondsSince1970: Int64.random(in: 0...4_102_444_800_000))
            #expect(Timestamp(timestamp.date) == timestamp)
        }
    }
}
