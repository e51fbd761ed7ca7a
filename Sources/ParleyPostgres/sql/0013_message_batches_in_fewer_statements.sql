-- A batch of messages with less work per transaction.
--
-- At everyday rates a batch is one or two messages, so what a transaction costs whatever its size
-- is most of what a message costs the database. Measured with pgbench calling the procedure at
-- 250 batches of two a second (docs/benchmarks.md#everyday-load-cpu-per-message), the statements
-- inside it were about half of that: three AFTER INSERT triggers, each a PL/pgSQL call with
-- statements of its own (the summary upsert, the users' check, the announcement trigger only to
-- find it had nothing to do); two nested functions; a SQL function parsed again in every batch;
-- and a row lock on every sender and receiver.
--
-- So the procedure now does it all itself, in three statements:
--
-- * The triggers skip themselves (their WHEN, no PL/pgSQL call) while `parley.batch_writer` is
--   on, which only this procedure sets, for its own statement. Rows inserted any other way are
--   summarized, checked and announced by the triggers as before.
-- * One statement inserts the rows, upserts their conversations' summaries (as
--   parley_conversations_inserted does), reads which of the batch's users exist and makes the
--   positioned announcements.
-- * The users are no longer locked FOR KEY SHARE: each such lock wrote a WAL record and dirtied
--   the user's page, and two batches naming the same user made a MultiXact. What the lock was
--   for, that a user cannot be deleted (or change id) between the check and the commit, holds
--   through the cluster's order lock (0011), which every batch holds shared until it commits: a
--   statement deleting user rows, or changing their ids, now takes it exclusive before it touches
--   a row (one lock, whatever the number of rows, and taken first, as by every other holder, so
--   no cycle). It waits for the batches in flight and then sees their messages; batches started
--   after it wait for its commit and then find the row gone. (Accounts deleted through Parley
--   stay as tombstones, an UPDATE of other columns; this is about rows deleted by hand, rare, and
--   holding up message writes for as long as such a statement takes.)
--
-- Instances of an older version call this procedure or parley_store_messages; both stay correct
-- side by side.

-- Before a statement deletes user rows or changes their ids: waits for the message batches in
-- flight (see above).
CREATE FUNCTION parley_users_removing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM parley_lock_order();
    RETURN NULL;
END
$$;

CREATE TRIGGER users_wait_for_message_batches BEFORE DELETE OR UPDATE OF id ON users
    FOR EACH STATEMENT EXECUTE FUNCTION parley_users_removing();

DROP TRIGGER messages_announce ON messages;
CREATE TRIGGER messages_announce AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_messages
    FOR EACH STATEMENT WHEN (current_setting('parley.batch_writer', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION parley_messages_inserted();

DROP TRIGGER messages_summarize_inserts ON messages;
CREATE TRIGGER messages_summarize_inserts AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT WHEN (current_setting('parley.batch_writer', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION parley_conversations_inserted();

DROP TRIGGER messages_check_users ON messages;
CREATE TRIGGER messages_check_users AFTER INSERT ON messages
    REFERENCING NEW TABLE AS checked_rows
    FOR EACH STATEMENT WHEN (current_setting('parley.batch_writer', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION parley_messages_inserted_check_users();

CREATE OR REPLACE PROCEDURE parley_store_messages_committed(
    ids text[], senders text[], receivers text[], texts text[], images text[], media_ids text[],
    created_ms bigint[], updated_ms bigint[], events text[], lock_wait_ms bigint
) LANGUAGE plpgsql AS $$
DECLARE
    announcements text[];
    longest integer;
    found bigint;
    wanted bigint;
BEGIN
    PERFORM set_config('lock_timeout', lock_wait_ms || 'ms', true);
    -- The order lock shared, then the users' locks in hash order (as parley_lock_users).
    PERFORM pg_advisory_xact_lock_shared(hashtextextended('parley.order', 0));
    PERFORM pg_advisory_xact_lock(h) FROM (
        SELECT DISTINCT hashtextextended('parley.user.' || u, 0) AS h FROM unnest(senders || receivers) AS u ORDER BY h
    ) AS ordered;
    PERFORM set_config('parley.batch_writer', 'on', true);
    WITH stored AS (
        INSERT INTO messages (id, sender_id, receiver_id, text, image, image_media_id, created_at, updated_at)
        SELECT m.id, m.sender, m.receiver, m.text, m.image, m.media_id,
               timestamptz 'epoch' + m.created * interval '1 millisecond',
               timestamptz 'epoch' + m.updated * interval '1 millisecond'
        FROM unnest(ids, senders, receivers, texts, images, media_ids, created_ms, updated_ms)
            WITH ORDINALITY AS m(id, sender, receiver, text, image, media_id, created, updated, n)
        ORDER BY m.n
        RETURNING id, seq, user_lo, user_hi, sender_id, receiver_id, text, image, created_at
    ), summarized AS (
        INSERT INTO parley_conversations AS c
        SELECT DISTINCT ON (user_lo, user_hi)
               user_lo, user_hi, seq, id, sender_id, text, image IS NOT NULL, false, created_at,
               count(*) FILTER (WHERE receiver_id = user_lo) OVER w,
               count(*) FILTER (WHERE receiver_id = user_hi) OVER w
        FROM stored
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
            unread_hi       = c.unread_hi + EXCLUDED.unread_hi
    ), positioned AS (
        SELECT e.n, '{"position":' || s.seq || ',' || substr(e.payload, 2) AS announcement
        FROM unnest(ids, events) WITH ORDINALITY AS e(id, payload, n)
        JOIN stored AS s ON s.id = e.id
    )
    SELECT (SELECT array_agg(announcement ORDER BY n) FROM positioned),
           (SELECT max(octet_length(announcement)) FROM positioned),
           (SELECT count(*) FROM users WHERE id = ANY (senders || receivers)),
           (SELECT count(DISTINCT u) FROM unnest(senders || receivers) AS u)
    INTO announcements, longest, found, wanted;
    PERFORM set_config('parley.batch_writer', 'off', true);
    IF found < wanted THEN
        -- Fails naming a missing user, as the trigger did.
        PERFORM parley_require_users(ARRAY(SELECT DISTINCT u FROM unnest(senders || receivers) AS u));
    END IF;
    IF longest <= 7500 THEN
        PERFORM pg_notify('parley_events', a.payload)
        FROM unnest(announcements) WITH ORDINALITY AS a(payload, n) ORDER BY a.n;
    ELSE
        -- Some are too large for a notification: parley_publish spills those, in order.
        PERFORM parley_publish(a.payload) FROM unnest(announcements) WITH ORDINALITY AS a(payload, n) ORDER BY a.n;
    END IF;
    COMMIT;
END
$$;
