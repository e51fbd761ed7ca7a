import NIOCore

/// The in-memory store's state, without a clock or a lock: the sessions of disconnected sockets
/// and the broadcasts of the recovery window, both bounded in number, so a client that never
/// comes back (or a flood of broadcasts) cannot grow memory.
///
/// Offsets are `<instance>-<sequence>`: the instance part is random, so an offset handed out by
/// another process (or before a restart) is not mistaken for one of this buffer's; the sequence
/// places a packet in the buffer without a search.
struct RecoveryBuffer {
    struct Limits: Sendable {
        var maxDisconnectionDuration: Duration
        /// Most sessions kept; past it the oldest disconnection is forgotten.
        var maxSessions: Int
        /// Most broadcasts kept; past it the oldest is forgotten, and sessions whose offset is
        /// older can no longer recover.
        var maxPackets: Int
    }

    private struct Packet {
        var sequence: UInt64
        var namespace: String
        var rooms: Set<String>
        var exceptRooms: Set<String>
        /// Event name first, offset last: what the client got; `nil` for a mark, which holds its
        /// place in the sequence and is not replayed.
        var arguments: [SocketValue]?
        var emittedAt: ContinuousClock.Instant
    }

    private struct Stored {
        var session: RecoverableSession
        var disconnectedAt: ContinuousClock.Instant
    }

    let limits: Limits
    let instance: String
    private var nextSequence: UInt64 = 1
    private var packets = CircularBuffer<Packet>()
    private var sessions: [String: Stored] = [:]
    /// Pids in the order they disconnected (with repeats of ones restored meanwhile).
    private var disconnections = CircularBuffer<String>()

    init(limits: Limits, instance: String = SessionID.make()) {
        self.limits = limits
        self.instance = instance
    }

    var sessionCount: Int { sessions.count }
    var packetCount: Int { packets.count }

    /// Keeps `broadcast` and returns its offset.
    mutating func record(_ broadcast: SocketBroadcast, in namespace: String, now: ContinuousClock.Instant) -> String {
        append(namespace: namespace, now: now) { offset in
            Packet(
                sequence: 0, namespace: namespace, rooms: broadcast.rooms, exceptRooms: broadcast.exceptRooms,
                arguments: [.string(broadcast.event)] + broadcast.arguments + [.string(offset)], emittedAt: now)
        }
    }

    /// An offset that replays nothing: for a broadcast a client should get an offset from but
    /// that is not worth keeping (a large one the client gets afresh anyway).
    mutating func mark(in namespace: String, now: ContinuousClock.Instant) -> String {
        append(namespace: namespace, now: now) { _ in
            Packet(sequence: 0, namespace: namespace, rooms: [], exceptRooms: [], arguments: nil, emittedAt: now)
        }
    }

    private mutating func append(
        namespace: String, now: ContinuousClock.Instant, packet: (_ offset: String) -> Packet
    ) -> String {
        expire(now: now)
        let sequence = nextSequence
        nextSequence += 1
        let offset = "\(instance)-\(sequence)"
        if packets.count >= limits.maxPackets { packets.removeFirst() }
        var made = packet(offset)
        made.sequence = sequence
        packets.append(made)
        return offset
    }

    mutating func persist(_ session: RecoverableSession, now: ContinuousClock.Instant) {
        expire(now: now)
        if sessions.count >= limits.maxSessions, sessions[session.pid] == nil {
            while let oldest = disconnections.popFirst() {
                if sessions.removeValue(forKey: oldest) != nil { break }
            }
        }
        sessions[session.pid] = Stored(session: session, disconnectedAt: now)
        disconnections.append(session.pid)
    }

    /// The session of `pid` if it is within the window and `offset` is still replayable; it is
    /// removed either way.
    mutating func restore(pid: String, offset: String, namespace: String, now: ContinuousClock.Instant)
        -> RecoverableSession?
    {
        expire(now: now)
        guard let stored = sessions.removeValue(forKey: pid), stored.session.namespace == namespace,
            index(after: offset) != nil
        else { return nil }
        return stored.session
    }

    /// What `session` missed after `offset`, in order; `nil` when `offset` is not (or no
    /// longer) in the buffer.
    func missedPackets(of session: RecoverableSession, after offset: String) -> [[SocketValue]]? {
        guard let start = index(after: offset) else { return nil }
        var missed: [[SocketValue]] = []
        var index = start
        while index < packets.endIndex {
            let packet = packets[index]
            if let arguments = packet.arguments, packet.namespace == session.namespace,
                packet.rooms.isEmpty || !packet.rooms.isDisjoint(with: session.rooms),
                packet.exceptRooms.isDisjoint(with: session.rooms)
            {
                missed.append(arguments)
            }
            index = packets.index(after: index)
        }
        return missed
    }

    /// The index of the packet just after the one `offset` names. The buffer holds the
    /// sequences from its first packet's to the last handed out, without gaps: an offset is
    /// replayable when everything after it is still there (the packet it names may be gone).
    private func index(after offset: String) -> CircularBuffer<Packet>.Index? {
        guard let dash = offset.lastIndex(of: "-"), offset[..<dash] == instance,
            let sequence = UInt64(offset[offset.index(after: dash)...]), sequence < nextSequence
        else { return nil }
        let firstKept = packets.first?.sequence ?? nextSequence
        guard sequence + 1 >= firstKept else { return nil }
        return packets.index(packets.startIndex, offsetBy: Int(sequence + 1 - firstKept))
    }

    /// Forgets sessions and packets older than the window.
    mutating func expire(now: ContinuousClock.Instant) {
        let threshold = now - limits.maxDisconnectionDuration
        while let first = packets.first, first.emittedAt < threshold { packets.removeFirst() }
        while let pid = disconnections.first {
            if let stored = sessions[pid] {
                guard stored.disconnectedAt < threshold else { break }
                sessions[pid] = nil
            }
            disconnections.removeFirst()
        }
    }
}
