-- Sessions that end before their tokens expire, and deleted accounts.
--
-- users.sessions_revoked_at: every token of the user issued at or before it is refused ("log out
-- everywhere", or the account deleted). users.deleted_at: the account is deleted; its row stays
-- as a tombstone (no name, avatar, password; a placeholder email, so the real one is free) so
-- that its messages keep their sender and receiver.
--
-- parley_revoked_tokens: tokens logged out one at a time, by SHA-256 fingerprint (never the token),
-- kept until they would have expired. Instances read recent rows of both now and then, in case
-- the cluster bus missed a revocation.

ALTER TABLE users ADD COLUMN sessions_revoked_at timestamptz;
ALTER TABLE users ADD COLUMN deleted_at timestamptz;
CREATE INDEX users_sessions_revoked_at ON users (sessions_revoked_at) WHERE sessions_revoked_at IS NOT NULL;

CREATE TABLE parley_revoked_tokens (
    fingerprint text COLLATE "C" PRIMARY KEY,
    user_id     text COLLATE "C" NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz NOT NULL
);
CREATE INDEX parley_revoked_tokens_revoked_at ON parley_revoked_tokens (revoked_at);
CREATE INDEX parley_revoked_tokens_expires_at ON parley_revoked_tokens (expires_at);
