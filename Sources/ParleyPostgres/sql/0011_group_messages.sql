-- Group messages and each member's read position, with recovery positions for everything a
-- group's members hear.
--
-- Positions (0009) are drawn under the advisory locks of every user who hears an event, so that
-- for each user the order of positions is the order of commits. A group's events are heard by up
-- to a thousand members: a thousand locks per message would fill the lock table. Instead there
-- is one more lock, the cluster's order lock: every transaction that draws positions for users
-- takes it shared (parley_lock_users), and one that draws positions for a group takes it
-- exclusive, just before it draws and until it commits. A group's event therefore commits after
-- every position drawn before it and before any drawn after it: positions stay in commit order
-- for every member, whatever else each member hears. Group events are serialised cluster-wide,
-- for as long as one commit takes; one-to-one writes are not serialised among themselves.
--
-- A group's history is kept under the group's id: its messages in group_messages (a message's
-- position is its seq), its other events in parley_changes with user_id = the group's id.

CREATE OR REPLACE FUNCTION parley_lock_users(users text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtextextended('parley.order', 0));
    PERFORM pg_advisory_xact_lock(h) FROM (
        SELECT DISTINCT hashtextextended('parley.user.' || u, 0) AS h FROM unnest(users) AS u ORDER BY h
    ) AS ordered;
END
$$;

-- Takes the cluster's order lock exclusive (see above).
CREATE FUNCTION parley_lock_order() RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('parley.order', 0))
$$;

ALTER TABLE groups ADD COLUMN last_seq bigint NOT NULL DEFAULT 0;

ALTER TABLE group_members
    ADD COLUMN read_seq bigint NOT NULL DEFAULT 0,
    ADD COLUMN read_up_to text,
    ADD COLUMN read_at timestamptz;

CREATE TABLE group_messages (
    seq            bigint PRIMARY KEY,
    id             text NOT NULL UNIQUE,
    group_id       text NOT NULL REFERENCES groups (id),
    sender_id      text NOT NULL REFERENCES users (id),
    text           text,
    image          text,
    image_media_id text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    edited_at      timestamptz,
    deleted_at     timestamptz
);

CREATE INDEX group_messages_group ON group_messages (group_id, seq);
CREATE INDEX group_messages_updated ON group_messages (group_id, updated_at, seq);

-- Stores a group message if its sender is a member of the open group now, and announces it
-- (payload: its JSON event) at its position. Returns the position, NULL when the sender is not
-- a member.
CREATE FUNCTION parley_store_group_message(
    p_id text, p_group text, p_sender text, p_text text, p_image text, p_media_id text, p_created_ms bigint,
    p_payload text
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    pos bigint;
BEGIN
    PERFORM set_config('lock_timeout', '5s', true);
    -- The group's row first (its last_seq changes): a membership change, which locks the row
    -- too, is decided before or after this message, never during it. Then the order lock, just
    -- before the position is drawn. Every transaction that takes both takes them in this order
    -- (a membership change announces itself under the order lock after locking the row), and
    -- none takes a group's row while holding the order lock.
    PERFORM 1 FROM groups AS g WHERE g.id = p_group AND g.closed_at IS NULL FOR NO KEY UPDATE;
    IF NOT EXISTS (SELECT 1 FROM group_members AS m WHERE m.group_id = p_group AND m.user_id = p_sender) THEN
        RETURN NULL;
    END IF;
    PERFORM parley_lock_order();
    pos := nextval(pg_get_serial_sequence('messages', 'seq'));
    INSERT INTO group_messages (seq, id, group_id, sender_id, text, image, image_media_id, created_at, updated_at)
    VALUES (pos, p_id, p_group, p_sender, p_text, p_image, p_media_id,
            timestamptz 'epoch' + p_created_ms * interval '1 millisecond',
            timestamptz 'epoch' + p_created_ms * interval '1 millisecond');
    UPDATE groups SET last_seq = pos WHERE id = p_group;
    PERFORM parley_publish(parley_positioned(p_payload, pos));
    RETURN pos;
END
$$;

-- parley_log_change for a group's event: `keys` are the group's id and any user it removed.
CREATE FUNCTION parley_log_group_change(keys text[], payload text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    pos bigint;
    announcement text;
BEGIN
    PERFORM set_config('lock_timeout', '5s', true);
    PERFORM parley_lock_order();
    pos := nextval(pg_get_serial_sequence('messages', 'seq'));
    announcement := parley_positioned(payload, pos);
    INSERT INTO parley_changes (user_id, position, payload)
    SELECT DISTINCT k, pos, announcement FROM unnest(keys) AS k;
    PERFORM parley_publish(announcement);
    RETURN pos;
END
$$;
