import NIOCore
import Testing

@testable import SocketIO

@Suite("Engine.IO session state machine")
struct EngineSessionStateMachineTests {
    typealias Machine = EngineSessionStateMachine
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    let interval = TimeAmount.milliseconds(300)
    let timeout = TimeAmount.milliseconds(200)

    func machine(_ transport: Machine.Transport = .polling, maxBuffered: Int = 1 << 20) -> Machine {
        var configuration = EngineConfiguration()
        configuration.pingInterval = .milliseconds(300)
        configuration.pingTimeout = .milliseconds(200)
        configuration.maxBufferedBytes = maxBuffered
        configuration.closeTimeout = .seconds(30)
        return Machine(transport: transport, configuration: configuration, now: start)
    }

    func text(_ string: String) -> EnginePacket { .message(.text(ByteBuffer(string: string))) }
    func message(_ string: String) -> EngineMessage { .text(ByteBuffer(string: string)) }

    // MARK: Heartbeat

    @Test func pingsAfterTheIntervalAndWaitsForThePong() {
        var machine = machine(.websocket)
        #expect(machine.initialHeartbeatTimer == start + interval)
        let early = machine.heartbeatTimerFired(now: start + .milliseconds(100))
        #expect(early.writeToWebSocket.isEmpty)
        #expect(early.heartbeatTimer == start + interval)

        let ping = machine.heartbeatTimerFired(now: start + interval)
        #expect(ping.writeToWebSocket == [.ping(nil)])
        #expect(ping.heartbeatTimer == start + interval + timeout)

        let pong = machine.webSocketReceived(.pong(nil), now: start + .milliseconds(350))
        #expect(pong.heartbeatTimer == start + .milliseconds(650))
        #expect(machine.isOpen)
    }

    @Test func closesWithoutAPong() {
        var machine = machine(.websocket)
        _ = machine.heartbeatTimerFired(now: start + interval)
        let expired = machine.heartbeatTimerFired(now: start + interval + timeout)
        #expect(expired.closed == .pingTimeout)
        #expect(expired.closeWebSocket)
        #expect(machine.isClosed)
    }

    @Test func aLatePollAfterThePongDeadlineIsRefused() {
        var machine = machine()
        _ = machine.heartbeatTimerFired(now: start + interval)
        // The timeout timer has not fired yet, but the deadline has passed.
        let (decision, actions) = machine.pollRequested(now: start + interval + timeout)
        #expect(decision == .reject(.unknownSessionID))
        #expect(actions.closed == .pingTimeout)
    }

    // MARK: Polling

    @Test func aPollTakesEverythingBufferedOrWaits() {
        var machine = machine()
        _ = machine.send([text("a"), text("b")])
        let (first, _) = machine.pollRequested(now: start)
        #expect(first == .respond([text("a"), text("b")]))
        let (second, _) = machine.pollRequested(now: start)
        #expect(second == .wait)
        let sent = machine.send([text("c")])
        #expect(sent.completePoll == [text("c")])
        #expect(!machine.pollWaiting)
    }

    @Test func aSecondPollClosesTheSession() {
        var machine = machine()
        _ = machine.pollRequested(now: start)
        let (decision, actions) = machine.pollRequested(now: start)
        #expect(decision == .rejectDuplicate)
        #expect(actions.completePoll == [.close])
        #expect(actions.closed == .transportError)
    }

    @Test func anAbandonedPollClosesTheSession() {
        var machine = machine()
        _ = machine.pollRequested(now: start)
        #expect(machine.pollAbandoned().closed == .transportClose)
        #expect(machine.pollAbandoned() == .none)
    }

    @Test func postsDeliverMessagesAndPongs() {
        var machine = machine()
        _ = machine.heartbeatTimerFired(now: start + interval)
        let actions = machine.postReceived(
            [text("x"), .pong(nil), text("y")], invalid: false, now: start + .milliseconds(400))
        #expect(actions.deliver == [message("x"), message("y")])
        #expect(actions.heartbeatTimer == start + .milliseconds(700))
    }

    @Test func aClosePacketAnswersTheWaitingPollWithNoop() {
        var machine = machine()
        _ = machine.pollRequested(now: start)
        let actions = machine.postReceived([.close], invalid: false, now: start)
        #expect(actions.completePoll == [.noop])
        #expect(actions.closed == .transportClose)
        #expect(actions.notifyClosed == .transportClose)
    }

    @Test func aClosePacketAnswersAPollStillOnItsWayWithNoop() {
        // The client sent GET then POST "1" on two connections; the POST was handled first.
        var machine = machine()
        let close = machine.postReceived([.close], invalid: false, now: start)
        #expect(close.notifyClosed == .transportClose)
        #expect(close.closed == nil)
        let (decision, actions) = machine.pollRequested(now: start)
        #expect(decision == .respond([.noop]))
        #expect(actions.closed == .transportClose)
        #expect(machine.pollRequested(now: start).0 == .reject(.unknownSessionID))
        // Without a poll, the session is forgotten at the deadline.
        var other = self.machine()
        _ = other.postReceived([.close], invalid: false, now: start)
        #expect(other.heartbeatTimerFired(now: start + timeout).closed == .transportClose)
    }

    @Test func invalidPacketsAndClientPingsClose() {
        var first = machine()
        #expect(first.postReceived([text("ok")], invalid: true, now: start).closed == .parseError)
        var second = machine()
        #expect(second.postReceived([.ping(nil)], invalid: false, now: start).closed == .transportError)
        var third = machine(.websocket)
        #expect(third.receivedInvalidPacket().closed == .parseError)
    }

    @Test func onePostAtATime() {
        var machine = machine()
        #expect(machine.postStarted().0 == .accept)
        let (overlap, actions) = machine.postStarted()
        #expect(overlap == .rejectOverlap)
        #expect(actions.closed == .transportError)
    }

    @Test func anOversizedPostKeepsTheSession() {
        var machine = machine()
        _ = machine.postStarted()
        #expect(machine.postFailed(closeSession: false) == .none)
        #expect(machine.isOpen)
        #expect(machine.postStarted().0 == .accept)
    }

    @Test func aClientThatNeverPollsIsDisconnectedNotBufferedForever() {
        var machine = machine(maxBuffered: 1000)
        var closed: EngineCloseReason?
        for _ in 0..<100 where closed == nil {
            closed = machine.send([text(String(repeating: "x", count: 100))]).closed
        }
        #expect(closed == .sendBufferFull)
        #expect(machine.outbox.isEmpty)
    }

    // MARK: Upgrade

    @Test func upgradesWithoutLosingOrReorderingPackets() {
        var machine = machine()
        _ = machine.send([text("1")])
        let (decision, attach) = machine.upgradeRequested(now: start, upgradeTimeout: .seconds(10))
        #expect(decision == .attach)
        #expect(attach.upgradeTimer == start + .seconds(10))
        // Before the probe, polling carries on as usual.
        #expect(machine.pollRequested(now: start).0 == .respond([text("1")]))
        #expect(machine.pollRequested(now: start).0 == .wait)

        let probe = machine.upgradingWebSocketReceived(.ping("probe"))
        #expect(probe.writeToUpgradingWebSocket == [.pong("probe")])
        #expect(probe.completePoll == [.noop], "the waiting poll is released")

        // Sent while upgrading: held for the WebSocket; polls only get noops.
        _ = machine.send([text("2"), text("3")])
        #expect(machine.pollRequested(now: start).0 == .respond([.noop]))

        let upgraded = machine.upgradingWebSocketReceived(.upgrade)
        #expect(upgraded.promoteUpgradingWebSocket)
        #expect(upgraded.cancelUpgradeTimer)
        #expect(upgraded.writeToWebSocket == [text("2"), text("3")])
        #expect(machine.transport == .websocket)
        #expect(machine.send([text("4")]).writeToWebSocket == [text("4")])
        // Polling is over for this session.
        #expect(machine.pollRequested(now: start).0 == .reject(.badRequest))
    }

    @Test func anythingButTheProbeCancelsTheUpgrade() {
        var machine = machine()
        _ = machine.upgradeRequested(now: start, upgradeTimeout: .seconds(10))
        let cancelled = machine.upgradingWebSocketReceived(text("hello"))
        #expect(cancelled.closeUpgradingWebSocket)
        #expect(machine.upgrade == .none)
        #expect(machine.transport == .polling)
        #expect(machine.isOpen)
    }

    @Test func aFailedUpgradeReturnsHeldPacketsToPolling() {
        var machine = machine()
        _ = machine.upgradeRequested(now: start, upgradeTimeout: .seconds(10))
        _ = machine.upgradingWebSocketReceived(.ping("probe"))
        _ = machine.pollRequested(now: start)  // noop
        #expect(machine.pollRequested(now: start).0 == .respond([.noop]))
        _ = machine.send([text("held")])
        #expect(machine.pollRequested(now: start).0 == .respond([.noop]))
        #expect(machine.upgradeFailed().closeUpgradingWebSocket)
        #expect(machine.pollRequested(now: start).0 == .respond([text("held")]))
    }

    @Test func onlyOneWebSocketPerSession() {
        var machine = machine()
        #expect(machine.upgradeRequested(now: start, upgradeTimeout: .seconds(1)).0 == .attach)
        #expect(machine.upgradeRequested(now: start, upgradeTimeout: .seconds(1)).0 == .acceptThenClose)
        _ = machine.upgradingWebSocketReceived(.ping("probe"))
        _ = machine.upgradingWebSocketReceived(.upgrade)
        #expect(machine.upgradeRequested(now: start, upgradeTimeout: .seconds(1)).0 == .acceptThenClose)
        var websocket = self.machine(.websocket)
        #expect(websocket.upgradeRequested(now: start, upgradeTimeout: .seconds(1)).0 == .acceptThenClose)
    }

    // MARK: Server close

    @Test func aServerCloseReachesAWaitingPoll() {
        var machine = machine()
        _ = machine.pollRequested(now: start)
        let actions = machine.close(.forcedClose, now: start)
        #expect(actions.completePoll == [.close])
        #expect(actions.closed == .forcedClose)
    }

    @Test func aServerCloseWaitsForTheNextPoll() {
        var machine = machine()
        _ = machine.send([text("last")])
        let closing = machine.close(.serverShuttingDown, now: start)
        #expect(closing.closed == nil)
        #expect(closing.notifyClosed == .serverShuttingDown)
        #expect(closing.heartbeatTimer == start + .seconds(30))
        #expect(machine.send([text("dropped")]) == .none)
        let (decision, actions) = machine.pollRequested(now: start)
        #expect(decision == .respond([text("last"), .close]))
        #expect(actions.closed == .serverShuttingDown)
        #expect(machine.pollRequested(now: start).0 == .reject(.unknownSessionID))
    }

    @Test func aClosingSessionEndsAtItsDeadline() {
        var machine = machine()
        _ = machine.close(.forcedClose, now: start)
        #expect(machine.heartbeatTimerFired(now: start + .seconds(1)).closed == nil)
        #expect(machine.heartbeatTimerFired(now: start + .seconds(30)).closed == .forcedClose)
    }

    @Test func aWebSocketSessionClosesItsSocket() {
        var machine = machine(.websocket)
        let actions = machine.close(.forcedClose, now: start)
        #expect(actions.closeWebSocket)
        #expect(actions.closed == .forcedClose)
        var other = self.machine(.websocket)
        #expect(other.webSocketClosed().closed == .transportClose)
        var third = self.machine(.websocket)
        #expect(third.webSocketReceived(.close, now: start).closed == .transportClose)
    }
}
