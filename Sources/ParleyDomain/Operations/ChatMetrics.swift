import CoreMetrics
import Metrics

/// The metrics Parley records through swift-metrics (the server exports them for Prometheus).
///
/// Handles are made on use: the metrics backend caches them by label, and a handle made before
/// the backend was bootstrapped would stay a no-op.
public enum ChatMetrics {
    /// A message was stored, through REST or Socket.IO.
    public static func messageSent() {
        Counter(label: "parley_messages_sent_total").increment()
    }

    /// A store call took `duration`, whatever the store.
    public static func storeCall(took duration: Duration) {
        let (seconds, attoseconds) = duration.components
        Metrics.Timer(label: "parley_store_call_duration").recordNanoseconds(
            seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// An image was stored, or failed to be, by a media backend.
    public static func upload(backend: String, succeeded: Bool) {
        Counter(
            label: "parley_uploads_total", dimensions: [("backend", backend), ("result", succeeded ? "ok" : "error")]
        )
        .increment()
    }

    /// The cluster bus lost its connection (it reconnects).
    public static func busReconnected() {
        Counter(label: "parley_bus_reconnects_total").increment()
    }

    /// A stored message's event reached this instance's realtime layer `milliseconds` after it
    /// was created.
    public static func busDelivered(afterMilliseconds milliseconds: Int64) {
        Metrics.Timer(label: "parley_bus_lag").recordMilliseconds(max(0, milliseconds))
    }
}
