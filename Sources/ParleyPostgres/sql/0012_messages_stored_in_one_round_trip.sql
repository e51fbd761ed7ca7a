-- A batch of messages in one round trip instead of three.
--
-- The writer used to run each batch as BEGIN, SELECT parley_store_messages(…), COMMIT: the
-- explicit COMMIT was there because a commit can fail (PostgreSQL refuses to commit
-- notifications when its queue is full), and in an implicit transaction that failure arrives
-- after the statement has reported success, where the client library cannot tell it to the
-- caller. At everyday rates a batch is one message, and the two extra round trips were a third
-- of the database's work per message and as many wake-ups of the server.
--
-- A procedure can commit inside the statement that calls it: CALL, outside a transaction block,
-- runs parley_store_messages and commits before it answers, so that a refused commit is the
-- CALL's own error, and success means committed. Instances of an older version keep calling the
-- function in their own transactions; both may run side by side.
CREATE PROCEDURE parley_store_messages_committed(
    ids text[], senders text[], receivers text[], texts text[], images text[], media_ids text[],
    created_ms bigint[], updated_ms bigint[], events text[], lock_wait_ms bigint
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM parley_store_messages(
        ids, senders, receivers, texts, images, media_ids, created_ms, updated_ms, events, lock_wait_ms
    );
    COMMIT;
END
$$;
