/// The SQLite schema, as ordered migrations recorded in `PRAGMA user_version`.
///
/// Times are whole milliseconds since 1970 (exactly what the domain holds); `seq` is the order in
/// which messages were stored, which conversation pages follow.
enum SQLiteSchema {
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE users (
                id              TEXT PRIMARY KEY NOT NULL,
                name            TEXT NOT NULL,
                email           TEXT NOT NULL UNIQUE,
                password        TEXT NOT NULL,
                avatar          TEXT NOT NULL DEFAULT '',
                avatar_media_id TEXT,
                created_at      INTEGER NOT NULL,
                updated_at      INTEGER NOT NULL
            )
            """,
            "CREATE INDEX users_name ON users (name, id)",
            """
            CREATE TABLE messages (
                seq            INTEGER PRIMARY KEY AUTOINCREMENT,
                id             TEXT NOT NULL UNIQUE,
                sender_id      TEXT NOT NULL REFERENCES users (id),
                receiver_id    TEXT NOT NULL REFERENCES users (id),
                user_lo        TEXT NOT NULL,
                user_hi        TEXT NOT NULL,
                text           TEXT,
                image          TEXT,
                image_media_id TEXT,
                created_at     INTEGER NOT NULL,
                updated_at     INTEGER NOT NULL,
                CHECK (text IS NOT NULL OR image IS NOT NULL)
            )
            """,
            "CREATE INDEX messages_conversation ON messages (user_lo, user_hi, seq)",
        ],
        // Read receipts, edits and deletions. A deleted message keeps its row as a tombstone
        // without content, so the content check changes: SQLite cannot alter a CHECK, so the
        // table is rebuilt (same rows, same seq).
        [
            """
            CREATE TABLE messages_v2 (
                seq            INTEGER PRIMARY KEY AUTOINCREMENT,
                id             TEXT NOT NULL UNIQUE,
                sender_id      TEXT NOT NULL REFERENCES users (id),
                receiver_id    TEXT NOT NULL REFERENCES users (id),
                user_lo        TEXT NOT NULL,
                user_hi        TEXT NOT NULL,
                text           TEXT,
                image          TEXT,
                image_media_id TEXT,
                created_at     INTEGER NOT NULL,
                updated_at     INTEGER NOT NULL,
                read_at        INTEGER,
                edited_at      INTEGER,
                deleted_at     INTEGER,
                CHECK (text IS NOT NULL OR image IS NOT NULL OR deleted_at IS NOT NULL)
            )
            """,
            """
            INSERT INTO messages_v2 (seq, id, sender_id, receiver_id, user_lo, user_hi, text, image, image_media_id,
                                     created_at, updated_at)
            SELECT seq, id, sender_id, receiver_id, user_lo, user_hi, text, image, image_media_id, created_at, updated_at
            FROM messages
            """,
            "DROP TABLE messages",
            "ALTER TABLE messages_v2 RENAME TO messages",
            "CREATE INDEX messages_conversation ON messages (user_lo, user_hi, seq)",
        ],
        // One row per conversation (newest message, unread counts) for the sidebar, kept by
        // triggers in the same transaction as every change; and an index for catching up on
        // changes since a time.
        [
            """
            CREATE TABLE conversations (
                user_lo         TEXT NOT NULL,
                user_hi         TEXT NOT NULL,
                last_seq        INTEGER NOT NULL,
                last_message_id TEXT NOT NULL,
                last_sender_id  TEXT NOT NULL,
                last_text       TEXT,
                last_has_image  INTEGER NOT NULL,
                last_deleted    INTEGER NOT NULL,
                last_created_at INTEGER NOT NULL,
                unread_lo       INTEGER NOT NULL DEFAULT 0,
                unread_hi       INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (user_lo, user_hi)
            )
            """,
            "CREATE INDEX conversations_lo ON conversations (user_lo, last_seq)",
            "CREATE INDEX conversations_hi ON conversations (user_hi, last_seq)",
            "CREATE INDEX messages_conversation_updated ON messages (user_lo, user_hi, updated_at, seq)",
            """
            INSERT INTO conversations
            SELECT m.user_lo, m.user_hi, m.seq, m.id, m.sender_id, m.text, m.image IS NOT NULL, m.deleted_at IS NOT NULL,
                   m.created_at,
                   (SELECT count(*) FROM messages u WHERE u.user_lo = m.user_lo AND u.user_hi = m.user_hi
                        AND u.receiver_id = m.user_lo AND u.read_at IS NULL),
                   (SELECT count(*) FROM messages u WHERE u.user_lo = m.user_lo AND u.user_hi = m.user_hi
                        AND u.receiver_id = m.user_hi AND u.read_at IS NULL)
            FROM messages m
            WHERE m.seq = (SELECT max(seq) FROM messages l WHERE l.user_lo = m.user_lo AND l.user_hi = m.user_hi)
            """,
            """
            CREATE TRIGGER messages_summarize_insert AFTER INSERT ON messages BEGIN
                INSERT INTO conversations (user_lo, user_hi, last_seq, last_message_id, last_sender_id, last_text,
                                           last_has_image, last_deleted, last_created_at, unread_lo, unread_hi)
                VALUES (NEW.user_lo, NEW.user_hi, NEW.seq, NEW.id, NEW.sender_id, NEW.text, NEW.image IS NOT NULL,
                        NEW.deleted_at IS NOT NULL, NEW.created_at,
                        NEW.receiver_id = NEW.user_lo AND NEW.read_at IS NULL,
                        NEW.receiver_id = NEW.user_hi AND NEW.read_at IS NULL)
                ON CONFLICT (user_lo, user_hi) DO UPDATE SET
                    last_seq = excluded.last_seq, last_message_id = excluded.last_message_id,
                    last_sender_id = excluded.last_sender_id, last_text = excluded.last_text,
                    last_has_image = excluded.last_has_image, last_deleted = excluded.last_deleted,
                    last_created_at = excluded.last_created_at,
                    unread_lo = unread_lo + excluded.unread_lo, unread_hi = unread_hi + excluded.unread_hi;
            END
            """,
            """
            CREATE TRIGGER messages_summarize_read AFTER UPDATE OF read_at ON messages
            WHEN OLD.read_at IS NULL AND NEW.read_at IS NOT NULL BEGIN
                UPDATE conversations SET
                    unread_lo = unread_lo - (NEW.receiver_id = user_lo),
                    unread_hi = unread_hi - (NEW.receiver_id = user_hi)
                WHERE user_lo = NEW.user_lo AND user_hi = NEW.user_hi;
            END
            """,
            """
            CREATE TRIGGER messages_summarize_change AFTER UPDATE OF text, image, deleted_at ON messages BEGIN
                UPDATE conversations SET
                    last_text = NEW.text, last_has_image = NEW.image IS NOT NULL,
                    last_deleted = NEW.deleted_at IS NOT NULL
                WHERE user_lo = NEW.user_lo AND user_hi = NEW.user_hi AND last_message_id = NEW.id;
            END
            """,
        ],
        // Sessions ended before their tokens expire ("log out everywhere" on the user, single
        // tokens by fingerprint) and deleted accounts (the row stays as a tombstone).
        [
            "ALTER TABLE users ADD COLUMN sessions_revoked_at INTEGER",
            "ALTER TABLE users ADD COLUMN deleted_at INTEGER",
            """
            CREATE TABLE revoked_tokens (
                fingerprint TEXT PRIMARY KEY NOT NULL,
                user_id     TEXT NOT NULL,
                expires_at  INTEGER NOT NULL,
                revoked_at  INTEGER NOT NULL
            )
            """,
            "CREATE INDEX revoked_tokens_revoked_at ON revoked_tokens (revoked_at)",
        ],
        // Connection-state recovery from the file (see ``SQLiteStore/events(of:after:limit:)``):
        // edits, deletions and read receipts as they were announced, once per user who heard
        // them, at positions drawn from the messages' own sequence. Kept two days.
        [
            """
            CREATE TABLE changes (
                user_id    TEXT NOT NULL,
                position   INTEGER NOT NULL,
                payload    TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                PRIMARY KEY (user_id, position)
            ) WITHOUT ROWID
            """,
            "CREATE INDEX changes_created_at ON changes (created_at)",
            // The last position forgotten: a client whose offset is older cannot recover.
            "CREATE TABLE changes_purged (through INTEGER NOT NULL)",
            "INSERT INTO changes_purged (through) VALUES (0)",
        ],
        // Groups and their members (see ``GroupRepository``); one owner per group.
        [
            """
            CREATE TABLE groups (
                id              TEXT PRIMARY KEY NOT NULL,
                name            TEXT NOT NULL,
                avatar          TEXT NOT NULL DEFAULT '',
                avatar_media_id TEXT,
                created_at      INTEGER NOT NULL,
                updated_at      INTEGER NOT NULL,
                closed_at       INTEGER
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE group_members (
                group_id  TEXT NOT NULL REFERENCES groups (id),
                user_id   TEXT NOT NULL REFERENCES users (id),
                role      TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
                joined_at INTEGER NOT NULL,
                PRIMARY KEY (group_id, user_id)
            ) WITHOUT ROWID
            """,
            "CREATE INDEX group_members_user ON group_members (user_id, group_id)",
            "CREATE UNIQUE INDEX group_members_owner ON group_members (group_id) WHERE role = 'owner'",
        ],
        // Group messages, at positions from the messages' sequence (one order for everything a
        // user hears), and each member's read position.
        [
            """
            CREATE TABLE group_messages (
                seq            INTEGER PRIMARY KEY,
                id             TEXT NOT NULL UNIQUE,
                group_id       TEXT NOT NULL REFERENCES groups (id),
                sender_id      TEXT NOT NULL REFERENCES users (id),
                text           TEXT,
                image          TEXT,
                image_media_id TEXT,
                created_at     INTEGER NOT NULL,
                updated_at     INTEGER NOT NULL,
                edited_at      INTEGER,
                deleted_at     INTEGER
            )
            """,
            "CREATE INDEX group_messages_group ON group_messages (group_id, seq)",
            "CREATE INDEX group_messages_updated ON group_messages (group_id, updated_at, seq)",
            "ALTER TABLE groups ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE group_members ADD COLUMN read_seq INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE group_members ADD COLUMN read_up_to TEXT",
            "ALTER TABLE group_members ADD COLUMN read_at INTEGER",
        ],
    ]
}
