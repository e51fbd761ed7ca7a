-- One row per conversation: its newest message and each side's unread count, so the sidebar
-- (GET /api/message/users) reads one row per conversation instead of scanning messages.
--
-- Kept up to date by statement-level triggers on messages, whoever writes them (the server,
-- `parley copy`, a manual fix), in the same transaction as the change.

-- No message may be stored between the backfill below and the triggers that take over from it
-- (an instance of the previous version still running during a rolling deploy).
LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE parley_conversations (
    user_lo         text COLLATE "C" NOT NULL,
    user_hi         text COLLATE "C" NOT NULL,
    last_seq        bigint NOT NULL,
    last_message_id text COLLATE "C" NOT NULL,
    last_sender_id  text COLLATE "C" NOT NULL,
    last_text       text,
    last_has_image  boolean NOT NULL,
    last_deleted    boolean NOT NULL,
    last_created_at timestamptz NOT NULL,
    -- Messages to user_lo (from user_hi) not read yet, and the other way round.
    unread_lo       integer NOT NULL DEFAULT 0,
    unread_hi       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (user_lo, user_hi)
);

CREATE INDEX parley_conversations_lo ON parley_conversations (user_lo, last_seq);
CREATE INDEX parley_conversations_hi ON parley_conversations (user_hi, last_seq);

-- Catching up after a reconnect: what changed in a conversation since a time.
CREATE INDEX messages_conversation_updated ON messages (user_lo, user_hi, updated_at, seq);

-- A bulk import (parley copy) sets parley.deferred_summaries to 'on' for its transactions and
-- rebuilds the summaries once at the end (parley_conversations_rebuild), instead of upserting a
-- summary row per conversation per batch.
CREATE FUNCTION parley_conversations_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('parley.deferred_summaries', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO parley_conversations AS c
    SELECT DISTINCT ON (user_lo, user_hi)
           user_lo, user_hi, seq, id, sender_id, text, image IS NOT NULL, deleted_at IS NOT NULL, created_at,
           count(*) FILTER (WHERE receiver_id = user_lo AND read_at IS NULL) OVER w,
           count(*) FILTER (WHERE receiver_id = user_hi AND read_at IS NULL) OVER w
    FROM new_rows
    WINDOW w AS (PARTITION BY user_lo, user_hi)
    ORDER BY user_lo, user_hi, seq DESC
    ON CONFLICT (user_lo, user_hi) DO UPDATE SET
        last_seq        = GREATEST(c.last_seq, EXCLUDED.last_seq),
        last_message_id = CASE WHEN EXCLUDED.last_seq > c.last_seq THEN EXCLUDED.last_message_id ELSE c.last_message_id END,
        last_sender_id  = CASE WHEN EXCLUDED.last_seq > c.last_seq THEN EXCLUDED.last_sender_id ELSE c.last_sender_id END,
        last_text       = CASE WHEN EXCLUDED.last_seq > c.last_seq THEN EXCLUDED.last_text ELSE c.last_text END,
        last_has_image  = CASE WHEN EXCLUDED.last_seq > c.last_seq THEN EXCLUDED.last_has_image ELSE c.last_has_image END,
        last_deleted    = CASE WHEN EXCLUDED.last_seq > c.last_seq THEN EXCLUDED.last_deleted ELSE c.last_deleted END,
        last_created_at = CASE WHEN EXCLUDED.last_seq > c.last_seq THEN EXCLUDED.last_created_at ELSE c.last_created_at END,
        unread_lo       = c.unread_lo + EXCLUDED.unread_lo,
        unread_hi       = c.unread_hi + EXCLUDED.unread_hi;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_summarize_inserts AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION parley_conversations_inserted();

CREATE FUNCTION parley_conversations_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Reads lower the reader's unread count.
    UPDATE parley_conversations AS c SET
        unread_lo = c.unread_lo - d.lo,
        unread_hi = c.unread_hi - d.hi
    FROM (
        SELECT n.user_lo, n.user_hi,
               count(*) FILTER (WHERE n.receiver_id = n.user_lo) AS lo,
               count(*) FILTER (WHERE n.receiver_id = n.user_hi) AS hi
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE o.read_at IS NULL AND n.read_at IS NOT NULL
        GROUP BY n.user_lo, n.user_hi
    ) AS d
    WHERE c.user_lo = d.user_lo AND c.user_hi = d.user_hi;
    -- An edited or deleted newest message changes what the sidebar shows.
    UPDATE parley_conversations AS c SET
        last_text      = n.text,
        last_has_image = n.image IS NOT NULL,
        last_deleted   = n.deleted_at IS NOT NULL
    FROM new_rows n
    WHERE c.user_lo = n.user_lo AND c.user_hi = n.user_hi AND c.last_message_id = n.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_summarize_updates AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION parley_conversations_updated();

-- Recomputes every summary from the messages. Locks out concurrent summary updates meanwhile, so
-- a message stored during the rebuild is either counted by it or added after it, never lost.
-- Set by every import transaction that deferred summaries; cleared by the rebuild. A run that
-- copied nothing skips the rebuild, and a run that died before its rebuild leaves the flag for
-- the next one.
CREATE TABLE parley_summaries_pending (
    pending boolean PRIMARY KEY DEFAULT true CHECK (pending),
    since   timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION parley_conversations_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM parley_summaries_pending) THEN
        RETURN;
    END IF;
    LOCK TABLE parley_conversations IN SHARE ROW EXCLUSIVE MODE;
    INSERT INTO parley_conversations AS c
    SELECT DISTINCT ON (user_lo, user_hi)
           user_lo, user_hi, seq, id, sender_id, text, image IS NOT NULL, deleted_at IS NOT NULL, created_at,
           count(*) FILTER (WHERE receiver_id = user_lo AND read_at IS NULL) OVER w,
           count(*) FILTER (WHERE receiver_id = user_hi AND read_at IS NULL) OVER w
    FROM messages
    WINDOW w AS (PARTITION BY user_lo, user_hi)
    ORDER BY user_lo, user_hi, seq DESC
    ON CONFLICT (user_lo, user_hi) DO UPDATE SET
        last_seq = EXCLUDED.last_seq, last_message_id = EXCLUDED.last_message_id,
        last_sender_id = EXCLUDED.last_sender_id, last_text = EXCLUDED.last_text,
        last_has_image = EXCLUDED.last_has_image, last_deleted = EXCLUDED.last_deleted,
        last_created_at = EXCLUDED.last_created_at, unread_lo = EXCLUDED.unread_lo, unread_hi = EXCLUDED.unread_hi
    WHERE (c.last_seq, c.unread_lo, c.unread_hi, c.last_text, c.last_has_image, c.last_deleted)
          IS DISTINCT FROM
          (EXCLUDED.last_seq, EXCLUDED.unread_lo, EXCLUDED.unread_hi, EXCLUDED.last_text, EXCLUDED.last_has_image,
           EXCLUDED.last_deleted);
    DELETE FROM parley_summaries_pending;
END
$$;

-- The summaries of the messages stored so far (the lock above keeps new ones out until the
-- triggers are in place).
INSERT INTO parley_summaries_pending DEFAULT VALUES;
SELECT parley_conversations_rebuild();
