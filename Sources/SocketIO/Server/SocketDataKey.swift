/// A typed key for a value an application keeps on a ``Socket`` (set in middleware, read in
/// handlers), as socketioxide's extensions and Hummingbird's request context are typed:
///
/// ```swift
/// enum UserName: SocketDataKey { typealias Value = String }
/// socket[data: UserName.self] = "ann"
/// let name: String? = socket[data: UserName.self]
/// ```
public protocol SocketDataKey {
    associatedtype Value: Sendable
}
