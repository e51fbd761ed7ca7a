/// What ties an Engine.IO session to the client that opened it, so that its id alone (leaked in
/// a log, a proxy's access log, a shared screen) is not enough to read its packets or send in its
/// name: the credential the handshake carried, and the address it came from.
///
/// Clients differ in what later requests carry: a browser sends its cookies with every poll and
/// the upgrade, Node's client its `extraHeaders`; python-socketio sends its headers with the
/// handshake only (and the upgrade). So a later request that carries a credential must carry the
/// same one; one that carries none must come from the same address.
public struct EngineSessionBinding: Sendable, Hashable {
    /// A fingerprint of the credential the request carries (never the credential itself).
    public var credential: String?
    /// The client's address, as the server sees it (or as a trusted proxy says).
    public var address: String

    public init(credential: String?, address: String) {
        self.credential = credential
        self.address = address
    }

    /// Whether a later request naming the session comes from the client this binding is of.
    public func admits(_ later: EngineSessionBinding) -> Bool {
        guard let presented = later.credential else { return later.address == address }
        if let credential { return presented == credential }
        return later.address == address
    }
}
