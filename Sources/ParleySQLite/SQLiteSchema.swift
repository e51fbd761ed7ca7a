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
        ]
    ]
}
