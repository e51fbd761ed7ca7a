import ArgumentParser

/// `parley-bench`: measures a running Parley server the way clients load it.
@main
struct ParleyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley-bench",
        abstract: "Load generators for Parley's performance figures (see scripts/bench).",
        subcommands: [
            RoundTrip.self, CheckUnderLogins.self, SocketIOFanOut.self, SocketIOEcho.self, RealtimeLatency.self,
            RealtimeThroughput.self, SidebarLatency.self, Soak.self, RecoveryAfterBlip.self, GroupFanOut.self,
        ]
    )
}
