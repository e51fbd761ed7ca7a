import Logging
import ParleyDomain

/// Accounts: sign-up, log-in, sessions (and their end: logout, "log out everywhere"), profile
/// updates, account deletion.
///
/// Applies the validation rules of ``Validation``; never sees HTTP. Every failure a client can
/// cause is a ``ParleyError``.
public struct AuthService: Sendable {
    let users: any UserRepository
    let revocations: any TokenRevocations
    let bus: any ClusterBus
    let passwords: PasswordHasher
    let tokens: TokenService
    let media: any MediaStore
    let images: ImageValidator
    let logger: Logger
    private let verified = VerifiedSessions()
    private let revoked = SessionRevocationList()

    public init(
        users: any UserRepository,
        revocations: any TokenRevocations,
        bus: any ClusterBus,
        passwords: PasswordHasher,
        tokens: TokenService,
        media: any MediaStore,
        images: ImageValidator,
        logger: Logger
    ) {
        self.users = users
        self.revocations = revocations
        self.bus = bus
        self.passwords = passwords
        self.tokens = tokens
        self.media = media
        self.images = images
        self.logger = logger
    }

    /// The service that keeps this instance's revocations current (run it beside the store).
    public var revocationService: SessionRevocationService {
        SessionRevocationService(store: revocations, bus: bus, list: revoked, logger: logger)
    }

    /// A signed-in user and their new session token.
    public struct Session: Sendable {
        public var user: User
        public var token: SessionToken
    }

    /// Creates an account and signs it in.
    public func signUp(name: String?, email: String?, password: String?, avatar: ImageInput?) async throws -> Session {
        let name = try Validation.name(name)
        let email = try Validation.email(email)
        let password = try Validation.newPassword(password)
        let image = try avatar.map { try images.validate($0, field: "avatar") }
        // Refuse a taken email before spending a hash and an upload on it; the unique index
        // still decides races.
        guard try await StoreCall.run({ try await users.user(email: email) }) == nil else {
            throw ParleyError.emailTaken
        }
        let hash = try await passwords.hash(password)
        var stored: MediaReference?
        if let image { stored = try await media.store(image, purpose: .avatar) }
        let now = Timestamp.now()
        let record = UserRecord(
            user: User(
                id: ObjectID(),
                name: name,
                email: email,
                avatar: stored?.url ?? "",
                createdAt: now,
                updatedAt: now
            ),
            passwordHash: hash,
            avatarMediaID: stored?.mediaID
        )
        do {
            try await StoreCall.run { try await users.insertUser(record) }
        } catch {
            if let mediaID = stored?.mediaID {
                await media.discard(mediaID, ofWriteThatFailedWith: error, logger: logger)
            }
            throw error
        }
        return Session(user: record.user, token: try await tokens.issue(for: record.user.id))
    }

    /// Signs in with email and password. Unknown email and wrong password fail the same way,
    /// in the same time.
    public func logIn(email: String?, password: String?) async throws -> Session {
        guard let rawEmail = email else { throw ParleyError.missingField("email") }
        guard let password else { throw ParleyError.missingField("password") }
        guard password.utf8.count <= PasswordHasher.maximumInputBytes else { throw ParleyError.invalidCredentials }
        let record = try await StoreCall.run { try await users.user(email: Validation.normalizedEmail(rawEmail)) }
        guard let record else {
            try await passwords.verifyAgainstDummy(password)
            throw ParleyError.invalidCredentials
        }
        guard record.deletedAt == nil, try await passwords.verify(password, against: record.passwordHash) else {
            throw ParleyError.invalidCredentials
        }
        return Session(
            user: record.user, token: try await tokens.issue(for: record.user.id, revokedUpTo: record.sessionsRevokedAt)
        )
    }

    /// The session of a valid token: signed, not expired, not logged out, its user there and not
    /// logged out everywhere since. A token used again within a minute is known without verifying
    /// it or asking the store again (see ``VerifiedSessions``), but the revocations this instance
    /// learned of since are checked every time.
    /// - Throws: ``ParleyError/unauthorized`` for any token that is not valid now.
    public func authenticate(token: String) async throws -> SessionToken {
        if let session = verified.session(for: token) {
            guard !revoked.revokes(session) else {
                verified.forget(token)
                throw ParleyError.unauthorized
            }
            return session
        }
        let session = try await tokens.verify(token)
        guard !revoked.revokes(session),
            let record = try await StoreCall.run({ try await users.user(id: session.userID) }),
            !record.revokes(tokenIssuedAt: session.issuedAt),
            try await !StoreCall.run({ try await revocations.isTokenRevoked(fingerprint: session.fingerprint) })
        else {
            throw ParleyError.unauthorized
        }
        verified.remember(session)
        return session
    }

    /// Ends one session: its token is refused from now on, on every instance (within
    /// ``SessionRevocationService/pollInterval`` at worst), and its sockets end. A token that is
    /// not valid anyway is left alone.
    public func logOut(token: String) async throws {
        guard let session = try? await authenticate(token: token) else { return }
        let revocation = TokenRevocation(
            fingerprint: session.fingerprint, userID: session.userID, expiresAt: session.expiresAt,
            revokedAt: .now())
        try await StoreCall.run { try await revocations.revokeToken(revocation) }
        revoked.add(.token(fingerprint: session.fingerprint))
        verified.forget(token)
        await announce(.sessionEnded(tokenFingerprint: session.fingerprint))
    }

    /// Ends every session of the user ("log out everywhere"): every token issued up to now is
    /// refused, on every instance, and every socket of the user ends.
    public func logOutEverywhere(_ session: SessionToken) async throws {
        let now = Timestamp.now()
        guard try await StoreCall.run({ try await users.revokeSessions(of: session.userID, upTo: now) }) else {
            throw ParleyError.unauthorized
        }
        revoked.add(.sessions(of: session.userID, upTo: now))
        await announce(.sessionsRevoked(user: session.userID, upTo: now))
    }

    /// Deletes the account once its password is given again: the profile, credentials and avatar
    /// go; every session and socket ends; the other side of each conversation keeps the messages,
    /// from a user with no name, avatar or email; the email can be used again.
    public func deleteAccount(_ session: SessionToken, password: String?) async throws {
        guard let password else { throw ParleyError.missingField("password") }
        guard let record = try await StoreCall.run({ try await users.user(id: session.userID) }),
            record.deletedAt == nil
        else { throw ParleyError.unauthorized }
        guard password.utf8.count <= PasswordHasher.maximumInputBytes,
            try await passwords.verify(password, against: record.passwordHash)
        else { throw ParleyError.wrongPassword }
        let now = Timestamp.now()
        guard let previous = try await StoreCall.run({ try await users.deleteUser(id: session.userID, at: now) })
        else { throw ParleyError.unauthorized }
        revoked.add(.sessions(of: session.userID, upTo: now))
        await announce(.sessionsRevoked(user: session.userID, upTo: now))
        await deleteQuietly(previous.avatarMediaID)
    }

    /// Tells every instance; the store's record reaches them anyway within the poll interval.
    private func announce(_ event: ClusterEvent) async {
        do {
            try await bus.publish(event)
        } catch {
            logger.warning(
                "Could not announce an ended session; other instances learn of it from the store",
                metadata: ["error": "\(error)"])
        }
    }

    /// The signed-in user, as stored now.
    /// - Throws: ``ParleyError/unauthorized`` if the user no longer exists.
    public func user(of session: SessionToken) async throws -> User {
        guard let record = try await StoreCall.run({ try await users.user(id: session.userID) }),
            !record.revokes(tokenIssuedAt: session.issuedAt)
        else {
            throw ParleyError.unauthorized
        }
        return record.user
    }

    /// Changes name and/or avatar. An avatar replaced here is deleted from the media store after
    /// the new one is saved; a failed delete is logged, never reported.
    /// - Parameter avatar: a new image, or `nil` to keep the current one.
    /// - Parameter removeAvatar: clears the avatar (when `avatar` is `nil`).
    public func updateProfile(
        of userID: ObjectID,
        name: String?,
        avatar: ImageInput?,
        removeAvatar: Bool = false
    ) async throws -> User {
        guard name != nil || avatar != nil || removeAvatar else {
            throw ParleyError(.badRequest, code: "nothing_to_update", message: "Provide name or avatar to update")
        }
        let name = try name.map { try Validation.name($0) }
        let image = try avatar.map { try images.validate($0, field: "avatar") }
        var stored: MediaReference?
        if let image { stored = try await media.store(image, purpose: .avatar) }
        var changes = UserChanges(name: name)
        if let stored {
            changes.avatar = stored
        } else if removeAvatar {
            changes.avatar = MediaReference.removed
        }
        let update: UserUpdate?
        do {
            update = try await StoreCall.run { try await users.updateUser(id: userID, changes: changes, at: .now()) }
        } catch {
            if let mediaID = stored?.mediaID {
                await media.discard(mediaID, ofWriteThatFailedWith: error, logger: logger)
            }
            throw error
        }
        guard let update else {
            if let stored { await deleteQuietly(stored.mediaID) }
            throw ParleyError.unauthorized
        }
        if changes.avatar != nil, let old = update.previous.avatarMediaID, old != update.updated.avatarMediaID {
            await deleteQuietly(old)
        }
        return update.updated.user
    }

    private func deleteQuietly(_ mediaID: String?) async {
        guard let mediaID else { return }
        do {
            try await media.delete(mediaID)
        } catch {
            logger.warning(
                "Could not delete a replaced image", metadata: ["media.id": "\(mediaID)", "error": "\(error)"])
        }
    }
}
