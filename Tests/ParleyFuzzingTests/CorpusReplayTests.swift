import Foundation
import ParleyFuzzing
import Testing

/// The fuzzers' seed corpus (and every input a longer run kept) replayed through the same entry
/// points: a regression suite for each parser of network bytes, run without libFuzzer.
@Suite("Fuzz corpus replay")
struct CorpusReplayTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/Corpus")

    @Test(arguments: FuzzTarget.allCases)
    func everyCorpusInputRunsWithoutATrap(target: FuzzTarget) async throws {
        let directory = Self.corpus.appendingPathComponent(target.rawValue)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(!files.isEmpty, "no seeds for \(target.rawValue)")
        for file in files {
            let data = try Data(contentsOf: directory.appendingPathComponent(file))
            await target.run(Array(data))
        }
    }
}
