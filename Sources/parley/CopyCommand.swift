import ArgumentParser
import Logging
import ParleyChat
import ParleyDomain
import ParleyServer

/// `parley copy`: every user and message from one store to another.
struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy all users and messages from one store to another, keeping ids, times and password hashes.",
        discussion: """
            Stores are named by URL: sqlite:path, postgres://user:password@host:port/database, \
            mongodb://host/database. The source is only read (a server may keep running on it); \
            the target's schema is created if needed. Records the target has already are left as \
            they are, so an interrupted copy can be run again: it resumes.

            Exit status: 0 when done, 1 when conflicts stopped the copy (or an error did), \
            2 when --verify found a difference.
            """
    )

    @Option(name: .long, help: "The store to read (sqlite:path, postgres://…, mongodb://…).")
    var from: String

    @Option(name: .long, help: "The store to write.")
    var to: String

    @Option(name: .customLong("on-conflict"), help: "fail: write nothing if any record conflicts; skip: copy the rest.")
    var onConflict: ConflictPolicy = .fail

    @Flag(name: .long, help: "Count and report conflicts without writing anything.")
    var dryRun = false

    @Flag(name: .long, help: "Afterwards, compare counts and content checksums of both stores.")
    var verify = false

    @Flag(name: .long, help: "Go through every message instead of resuming after the target's newest one.")
    var full = false

    @Option(name: .long, help: "Records per batch (1 to 100000).")
    var batchSize = 5000

    @Option(name: .long, help: "Log level for the stores' messages (trace … critical).")
    var logLevel: Logger.Level = .warning

    func validate() throws {
        guard (1...100_000).contains(batchSize) else { throw ValidationError("--batch-size must be from 1 to 100000") }
    }

    func run() async throws {
        let logger = Logging.bootstrap(level: logLevel)
        let source: StoreLocation
        let target: StoreLocation
        do {
            source = try StoreLocation(from, option: "--from")
            target = try StoreLocation(to, option: "--to")
        } catch {
            throw ValidationError("\(error)")
        }
        let options = CopyOptions(batchSize: batchSize, onConflict: onConflict, dryRun: dryRun, fullPass: full)
        let verify = self.verify
        let display = CopyProgressDisplay()
        let status: Int32
        do {
            status = try await CopyStores.withStores(from: source, to: target, migrateTarget: !dryRun, logger: logger) {
                stores in
                print(
                    "Copying from \(stores.source.displayName) to \(stores.target.displayName)\(options.dryRun ? " (dry run)" : "")"
                )
                let copier = StoreCopier(
                    from: stores.source,
                    to: stores.target,
                    options: options,
                    logger: logger,
                    progress: display.show
                )
                let report = try await copier.run()
                print(CopyReportText(report: report, options: options).text)
                guard report.outcome == .completed || report.outcome == .dryRun else { return 1 }
                guard verify else { return 0 }
                return try await Self.verify(stores, display: display, batchSize: options.batchSize)
            }
        } catch let error as ConfigurationError {
            throw ValidationError("\(error)")
        }
        if status != 0 { throw ExitCode(status) }
    }

    /// Digests both stores at once and prints the comparison.
    /// - Returns: the exit status: 0 when equal, 2 otherwise.
    private static func verify(_ stores: CopyStores, display: CopyProgressDisplay, batchSize: Int) async throws
        -> Int32
    {
        async let sourceDigest = StoreDigest.compute(of: stores.source, batchSize: batchSize)
        let targetDigest = try await StoreDigest.compute(of: stores.target, batchSize: batchSize) { collection, done in
            display.show(.init(phase: .verifying, collection: collection, done: done, total: 0))
        }
        let source = try await sourceDigest
        var equal = true
        for collection in CopyCollection.allCases {
            let same = source[collection] == targetDigest[collection]
            equal = equal && same
            print(
                """
                verify \(collection.rawValue): \(same ? "equal" : "DIFFERENT")
                  source: \(source[collection])
                  target: \(targetDigest[collection])
                """
            )
        }
        return equal ? 0 : 2
    }
}

extension ConflictPolicy: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
