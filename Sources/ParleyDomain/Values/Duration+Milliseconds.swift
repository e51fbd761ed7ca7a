extension Duration {
    /// Whole milliseconds, rounded toward zero: what settings, PostgreSQL parameters and
    /// timestamps count in.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
