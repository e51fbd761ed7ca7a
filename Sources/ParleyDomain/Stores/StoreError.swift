/// Conditions every store reports the same way, whatever its database says.
public enum StoreError: Error, Sendable, Hashable {
    /// Another user already has this email.
    case duplicateEmail
    /// The sender or receiver of a message being stored does not exist.
    case unknownUser
    /// A paging cursor is not a message of the conversation being read.
    case cursorNotFound
    /// The database cannot be reached or did not answer in time.
    case unavailable(String)
}
