-- Users and messages.
--
-- Ids are 24-hex-digit ObjectId strings (the same in every store), compared bytewise (COLLATE "C").
-- Times are timestamptz holding whole milliseconds. `seq` is the order in which messages were
-- stored; conversation pages follow it, through the (user_lo, user_hi, seq) index.

CREATE TABLE users (
    id              text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[0-9a-f]{24}$'),
    name            text NOT NULL,
    email           text NOT NULL,
    password        text NOT NULL,
    avatar          text NOT NULL DEFAULT '',
    avatar_media_id text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE INDEX users_name ON users (name, id);

CREATE TABLE messages (
    seq            bigint GENERATED ALWAYS AS IDENTITY,
    id             text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[0-9a-f]{24}$'),
    sender_id      text COLLATE "C" NOT NULL REFERENCES users (id),
    receiver_id    text COLLATE "C" NOT NULL REFERENCES users (id),
    user_lo        text COLLATE "C" GENERATED ALWAYS AS (LEAST(sender_id, receiver_id)) STORED,
    user_hi        text COLLATE "C" GENERATED ALWAYS AS (GREATEST(sender_id, receiver_id)) STORED,
    text           text,
    image          text,
    image_media_id text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CONSTRAINT messages_has_content CHECK (text IS NOT NULL OR image IS NOT NULL),
    CONSTRAINT messages_seq_key UNIQUE (seq)
);

CREATE INDEX messages_conversation ON messages (user_lo, user_hi, seq);
