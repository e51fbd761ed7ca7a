-- Connection-state recovery served from the database: every event a client must not miss (a new
-- message, an edit, a deletion, a read receipt) gets a position, so that any instance, after the
-- one a client was on has died too, can send that client what it missed since the last position
-- it saw, in order, once.
--
-- Positions come from the messages' own sequence (a new message's position is its seq) and are
-- drawn under the advisory locks of every user who hears the event, held until commit. So, for
-- each user, the order of positions is the order of commits, which is the order in which NOTIFY
-- delivers events to every instance: a user's events arrive in increasing positions, and one
-- committed later can never have a smaller position than one already heard. (The conversation
-- locks of 0005 gave that order only within a conversation; a user's locks give it within
-- everything the user hears, and still within a conversation.)
--
-- Announcements carry the position as their first member: {"position":N,"type":...}. Instances
-- that do not know it skip it.

-- Takes the advisory locks of `users` (any order, repeats allowed) in hash order, so that two
-- transactions never wait on each other in a cycle.
CREATE FUNCTION parley_lock_users(users text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(h) FROM (
        SELECT DISTINCT hashtextextended('parley.user.' || u, 0) AS h FROM unnest(users) AS u ORDER BY h
    ) AS ordered;
END
$$;

-- `payload`, a JSON object, with the position in front.
CREATE FUNCTION parley_positioned(payload text, pos bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT '{"position":' || pos || ',' || substr(payload, 2)
$$;

CREATE OR REPLACE FUNCTION parley_store_messages(
    ids text[], senders text[], receivers text[], texts text[], images text[], media_ids text[],
    created_ms bigint[], updated_ms bigint[], events text[], lock_wait_ms bigint
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    announcements text[];
BEGIN
    PERFORM set_config('lock_timeout', lock_wait_ms || 'ms', true);
    PERFORM parley_lock_users(senders || receivers);
    PERFORM set_config('parley.suppress_events', 'on', true);
    WITH stored AS (
        INSERT INTO messages (id, sender_id, receiver_id, text, image, image_media_id, created_at, updated_at)
        SELECT m.id, m.sender, m.receiver, m.text, m.image, m.media_id,
               timestamptz 'epoch' + m.created * interval '1 millisecond',
               timestamptz 'epoch' + m.updated * interval '1 millisecond'
        FROM unnest(ids, senders, receivers, texts, images, media_ids, created_ms, updated_ms)
            WITH ORDINALITY AS m(id, sender, receiver, text, image, media_id, created, updated, n)
        ORDER BY m.n
        RETURNING id, seq
    )
    SELECT array_agg(parley_positioned(e.payload, s.seq) ORDER BY e.n) INTO announcements
    FROM unnest(ids, events) WITH ORDINALITY AS e(id, payload, n)
    JOIN stored AS s ON s.id = e.id;
    PERFORM set_config('parley.suppress_events', 'off', true);
    IF (SELECT max(octet_length(a)) FROM unnest(announcements) AS a) <= 7500 THEN
        PERFORM pg_notify('parley_events', a.payload)
        FROM unnest(announcements) WITH ORDINALITY AS a(payload, n) ORDER BY a.n;
    ELSE
        -- Some are too large for a notification: parley_publish spills those, in order.
        PERFORM parley_publish(a.payload) FROM unnest(announcements) WITH ORDINALITY AS a(payload, n) ORDER BY a.n;
    END IF;
END
$$;

-- Changes to stored messages, as they were announced, once per user who heard them (new
-- messages are replayed from messages itself). Kept two days, longer than any recovery window
-- (at most one); parley_changes_purged.through is the last position forgotten, so that a client
-- whose offset is older than that is not told it recovered everything.
CREATE TABLE parley_changes (
    user_id    text NOT NULL,
    position   bigint NOT NULL,
    payload    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, position)
);

CREATE INDEX parley_changes_created_at ON parley_changes (created_at);

CREATE TABLE parley_changes_purged (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    through  bigint NOT NULL
);

INSERT INTO parley_changes_purged (through) VALUES (0);

-- Forgets changes older than two days, a slice at a time, skipping rows another instance is
-- forgetting. Every instance calls it as it reaps dead instances (never while holding users'
-- locks).
CREATE FUNCTION parley_purge_changes() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    forgotten bigint;
BEGIN
    WITH gone AS (
        DELETE FROM parley_changes WHERE ctid IN (
            SELECT ctid FROM parley_changes WHERE created_at < now() - interval '2 days'
            LIMIT 10000 FOR UPDATE SKIP LOCKED
        )
        RETURNING position
    )
    SELECT max(position) INTO forgotten FROM gone;
    IF forgotten IS NOT NULL THEN
        UPDATE parley_changes_purged SET through = GREATEST(through, forgotten);
    END IF;
END
$$;

-- Announces a change (payload: its JSON event) to every instance and keeps it for each of
-- `users`, at a position drawn under their locks. Returns the position.
CREATE FUNCTION parley_log_change(users text[], payload text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    pos bigint;
    announcement text;
BEGIN
    PERFORM set_config('lock_timeout', '5s', true);
    PERFORM parley_lock_users(users);
    pos := nextval(pg_get_serial_sequence('messages', 'seq'));
    announcement := parley_positioned(payload, pos);
    INSERT INTO parley_changes (user_id, position, payload)
    SELECT DISTINCT u, pos, announcement FROM unnest(users) AS u;
    PERFORM parley_publish(announcement);
    RETURN pos;
END
$$;
