/// Which pages may open a socket: browsers send `Origin` on every WebSocket and cross-origin
/// request and a page cannot forge it, so a page on another site cannot open a socket with the
/// user's cookie (cross-site WebSocket hijacking).
struct OriginPolicy: Sendable {
    /// Configured origins (`CORS_ORIGIN`, `PUBLIC_URL`), as `scheme://host[:port]`.
    let allowed: Set<String>

    /// Allowed: no `Origin` (not a browser), a configured origin, or the server's own origin
    /// (the same `Host`).
    func allows(origin: String?, host: String?) -> Bool {
        guard let origin else { return true }
        if allowed.contains(origin) { return true }
        guard let host = host?.lowercased(), let separator = origin.firstRange(of: "://") else { return false }
        return origin[separator.upperBound...].lowercased() == host
    }
}
