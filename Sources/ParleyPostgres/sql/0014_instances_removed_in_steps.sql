-- Instances removed a few hundred users per transaction, and known by their incarnation.
--
-- Removing an instance (a dead one, by the others' heartbeats; or itself, at shutdown) was one
-- transaction taking an advisory lock for each user it had online. PostgreSQL keeps those locks
-- in one shared table of max_locks_per_transaction × max_connections entries (6,400 by default),
-- so an instance that died with more users online than that could never be removed: every
-- heartbeat of every instance failed on it ("out of shared memory"), filling the lock table
-- other transactions needed, its users stayed online for ever, and old changes were no longer
-- forgotten (the same statement).
--
-- Now procedures remove an instance 500 users per transaction, committing between them. The
-- first step marks the instance `removing`: from then on its heartbeat no longer keeps it, and
-- any instance that reaps goes on where the last one stopped. A live instance that finds itself
-- being removed finishes the removal, then registers its users again, as it did when it found
-- itself gone. Instances of an older version keep calling the old functions; both may run side
-- by side.
ALTER TABLE parley_instances ADD COLUMN removing boolean NOT NULL DEFAULT false;

-- Which row of an instance this is. Registering a user inserts the instance's row if it is
-- missing: an instance removed by the others (it stalled past the TTL) that registered a user
-- before its next heartbeat found its row there again, never learnt it had been removed, and
-- never registered its other users again: they stayed offline while connected. An instance now
-- keeps the incarnation of its row; a different one means it was removed meanwhile.
CREATE SEQUENCE parley_instance_incarnations;
ALTER TABLE parley_instances
    ADD COLUMN incarnation bigint NOT NULL DEFAULT nextval('parley_instance_incarnations');

-- An instance's users in order, for the steps (with the old index on instance_id alone, each
-- step sorted or scanned every row left: a large removal slowed down as it went, about 8,000
-- users a second instead of 45,000).
CREATE INDEX parley_presence_instance_user ON parley_presence (instance_id, user_id);
DROP INDEX parley_presence_instance;

-- Removes up to p_limit of p_instance's users, announcing those who went offline everywhere,
-- and the instance once it has none left; only while it is dead: its heartbeat older than
-- p_dead_before, or its removal started. Returns whether users are left to remove.
CREATE FUNCTION parley_instance_remove_some(p_instance text, p_limit integer, p_dead_before timestamptz)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    gone text;
BEGIN
    PERFORM 1 FROM parley_instances
        WHERE id = p_instance AND (removing OR heartbeat_at < p_dead_before) FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE parley_instances SET removing = true WHERE id = p_instance AND NOT removing;
    -- The user's lock before the row, in the order registering and unregistering take them.
    FOR gone IN
        SELECT user_id FROM parley_presence WHERE instance_id = p_instance ORDER BY user_id LIMIT p_limit
    LOOP
        PERFORM parley_presence_lock(gone);
        DELETE FROM parley_presence WHERE user_id = gone AND instance_id = p_instance;
        IF FOUND AND NOT EXISTS (SELECT 1 FROM parley_presence WHERE user_id = gone) THEN
            PERFORM parley_publish(json_build_object('type', 'offline', 'user', gone)::text);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM parley_presence WHERE instance_id = p_instance) THEN
        RETURN true;
    END IF;
    DELETE FROM parley_instances WHERE id = p_instance;
    RETURN false;
END
$$;

-- Removes p_instance to the end (an instance shutting down, or one that found itself being
-- removed), committing every 500 users. CALL it outside a transaction block.
CREATE PROCEDURE parley_instance_remove_committed(p_instance text) LANGUAGE plpgsql AS $$
BEGIN
    WHILE parley_instance_remove_some(p_instance, 500, 'infinity') LOOP
        COMMIT;
    END LOOP;
    COMMIT;
END
$$;

-- A heartbeat's housekeeping, for instance p_self: forgets old changes (migration 0009) and old
-- spilled events, then removes the other instances whose heartbeat is older than ttl or whose
-- removal started, committing every 500 users, until budget_ms have passed; the next heartbeat
-- goes on from there. After each step it heartbeats for p_self (in a transaction of its own, so
-- that it holds no user's lock while it waits for its own row), so that a long removal does not
-- make the instance doing it look dead to the others. reaped: how many instances it saw gone.
-- CALL it outside a transaction block.
CREATE PROCEDURE parley_instances_reap_committed(
    p_self text, ttl interval, budget_ms bigint, INOUT reaped integer DEFAULT 0
) LANGUAGE plpgsql AS $$
DECLARE
    until timestamptz := clock_timestamp() + make_interval(secs => budget_ms / 1000.0);
    dead text;
    more boolean;
BEGIN
    PERFORM parley_purge_changes();
    DELETE FROM parley_event_spill WHERE created_at < now() - interval '5 minutes';
    COMMIT;
    reaped := 0;
    WHILE clock_timestamp() < until LOOP
        SELECT id INTO dead FROM parley_instances
            WHERE id <> p_self AND (removing OR heartbeat_at < now() - ttl) LIMIT 1 FOR UPDATE SKIP LOCKED;
        EXIT WHEN dead IS NULL;
        LOOP
            more := parley_instance_remove_some(dead, 500, now() - ttl);
            IF NOT more AND NOT EXISTS (SELECT 1 FROM parley_instances WHERE id = dead) THEN
                reaped := reaped + 1;
            END IF;
            COMMIT;
            UPDATE parley_instances SET heartbeat_at = now() WHERE id = p_self AND NOT removing;
            COMMIT;
            IF clock_timestamp() >= until THEN
                RETURN;
            END IF;
            EXIT WHEN NOT more;
        END LOOP;
    END LOOP;
END
$$;
