-- The server stores messages in batches, one statement per batch: parley_store_messages takes the
-- batch's conversation locks, inserts its rows and publishes the events the server encoded for
-- them, in the batch's order, in one transaction and one round trip.
--
-- The row trigger of 0002 encoded every event in SQL; it was about half of the time an insert
-- took. It becomes a statement trigger that announces rows inserted any other way (another tool,
-- psql, an instance not yet upgraded), so every stored message is still announced once, after
-- it is committed and in the order it was stored.

DROP TRIGGER messages_announce ON messages;

DROP FUNCTION parley_message_created();

CREATE FUNCTION parley_messages_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('parley.suppress_events', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM parley_publish(json_build_object(
        'type', 'message',
        'message', json_strip_nulls(json_build_object(
            '_id', n.id,
            'senderId', n.sender_id,
            'receiverId', n.receiver_id,
            'text', n.text,
            'image', n.image,
            'createdAt', parley_iso8601(n.created_at),
            'updatedAt', parley_iso8601(n.updated_at)
        ))
    )::text)
    FROM (SELECT * FROM new_messages ORDER BY seq) AS n;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_announce AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_messages
    FOR EACH STATEMENT EXECUTE FUNCTION parley_messages_inserted();

-- One message per array element: ids, senders, receivers, texts, images, media ids (NULL when
-- absent), creation and update times in milliseconds since 1970; events: each message's event, in
-- the same order. The conversation locks (keys as the server wrote them before this migration,
-- the lower id first in byte order) are taken in hash order, so writers on different instances
-- never wait on each other in a cycle, and within a conversation the commit order is the `seq`
-- order on every instance. Waiting for locks longer than lock_wait_ms fails the call (55P03), so
-- a batch its server gave up on does not commit later.
CREATE FUNCTION parley_store_messages(
    ids text[], senders text[], receivers text[], texts text[], images text[], media_ids text[],
    created_ms bigint[], updated_ms bigint[], events text[], lock_wait_ms bigint
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('lock_timeout', lock_wait_ms || 'ms', true);
    PERFORM pg_advisory_xact_lock(h) FROM (
        SELECT DISTINCT hashtextextended(
            'parley.conversation.' || LEAST(s COLLATE "C", r COLLATE "C") || '.' || GREATEST(s COLLATE "C", r COLLATE "C"),
            0
        ) AS h
        FROM unnest(senders, receivers) AS m(s, r)
        ORDER BY h
    ) AS ordered;
    PERFORM set_config('parley.suppress_events', 'on', true);
    INSERT INTO messages (id, sender_id, receiver_id, text, image, image_media_id, created_at, updated_at)
    SELECT m.id, m.sender, m.receiver, m.text, m.image, m.media_id,
           timestamptz 'epoch' + m.created * interval '1 millisecond',
           timestamptz 'epoch' + m.updated * interval '1 millisecond'
    FROM unnest(ids, senders, receivers, texts, images, media_ids, created_ms, updated_ms)
        WITH ORDINALITY AS m(id, sender, receiver, text, image, media_id, created, updated, n)
    ORDER BY m.n;
    PERFORM set_config('parley.suppress_events', 'off', true);
    IF (SELECT max(octet_length(e)) FROM unnest(events) AS e) <= 7500 THEN
        PERFORM pg_notify('parley_events', e.payload) FROM unnest(events) WITH ORDINALITY AS e(payload, n) ORDER BY e.n;
    ELSE
        -- Some are too large for a notification: parley_publish spills those, in order.
        PERFORM parley_publish(e.payload) FROM unnest(events) WITH ORDINALITY AS e(payload, n) ORDER BY e.n;
    END IF;
END
$$;
