-- Cross-instance realtime: events over LISTEN/NOTIFY, and presence shared by every instance.
--
-- Every instance LISTENs on channel parley_events. A NOTIFY is delivered only after its transaction
-- commits, in commit order, so a message event can never reach a client before the message is
-- stored. Payloads too large for NOTIFY (8000 bytes) wait in parley_event_spill and the
-- notification carries their id.

CREATE TABLE parley_event_spill (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payload    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX parley_event_spill_created_at ON parley_event_spill (created_at);

CREATE FUNCTION parley_publish(payload text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    spill_id bigint;
BEGIN
    IF octet_length(payload) <= 7500 THEN
        PERFORM pg_notify('parley_events', payload);
    ELSE
        INSERT INTO parley_event_spill (payload) VALUES (payload) RETURNING id INTO spill_id;
        PERFORM pg_notify('parley_events', '{"spill":' || spill_id || '}');
    END IF;
END
$$;

-- ISO-8601 with milliseconds in UTC, as the API writes dates.
CREATE FUNCTION parley_iso8601(value timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(value AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- Every stored message is announced, whoever stored it. A bulk import sets
-- parley.suppress_events to 'on' for its session to stay silent.
CREATE FUNCTION parley_message_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('parley.suppress_events', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM parley_publish(json_build_object(
        'type', 'message',
        'message', json_strip_nulls(json_build_object(
            '_id', NEW.id,
            'senderId', NEW.sender_id,
            'receiverId', NEW.receiver_id,
            'text', NEW.text,
            'image', NEW.image,
            'createdAt', parley_iso8601(NEW.created_at),
            'updatedAt', parley_iso8601(NEW.updated_at)
        ))
    )::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_announce AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION parley_message_created();

-- Presence: which instance has devices of which user. Instances heartbeat; one that stops is
-- removed by the others, and its users go offline unless they are connected elsewhere.
-- Unlogged: presence is rebuilt by the instances after a crash, so it need not be durable.
CREATE UNLOGGED TABLE parley_instances (
    id           text PRIMARY KEY,
    heartbeat_at timestamptz NOT NULL
);

CREATE UNLOGGED TABLE parley_presence (
    user_id     text COLLATE "C" NOT NULL,
    instance_id text NOT NULL REFERENCES parley_instances (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, instance_id)
);

CREATE INDEX parley_presence_instance ON parley_presence (instance_id);

-- Serialises presence changes of one user across instances, so online/offline are announced
-- exactly once per transition. Lock order everywhere: the instance row, then the user's lock,
-- then presence rows; so a reaper and a live instance never deadlock.
CREATE FUNCTION parley_presence_lock(user_id text) RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('parley.presence.' || user_id, 0))
$$;

CREATE FUNCTION parley_presence_register(p_user text, p_instance text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    added integer;
BEGIN
    INSERT INTO parley_instances (id, heartbeat_at) VALUES (p_instance, now())
        ON CONFLICT (id) DO UPDATE SET heartbeat_at = now();
    PERFORM parley_presence_lock(p_user);
    INSERT INTO parley_presence (user_id, instance_id) VALUES (p_user, p_instance) ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    IF added > 0 AND (SELECT count(*) FROM parley_presence WHERE user_id = p_user) = 1 THEN
        PERFORM parley_publish(json_build_object('type', 'online', 'user', p_user)::text);
    END IF;
END
$$;

CREATE FUNCTION parley_presence_unregister(p_user text, p_instance text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    removed integer;
BEGIN
    PERFORM 1 FROM parley_instances WHERE id = p_instance FOR SHARE;
    PERFORM parley_presence_lock(p_user);
    DELETE FROM parley_presence WHERE user_id = p_user AND instance_id = p_instance;
    GET DIAGNOSTICS removed = ROW_COUNT;
    IF removed > 0 AND NOT EXISTS (SELECT 1 FROM parley_presence WHERE user_id = p_user) THEN
        PERFORM parley_publish(json_build_object('type', 'offline', 'user', p_user)::text);
    END IF;
END
$$;

-- Removes an instance (one that stopped, or one shutting down) and announces its users offline
-- unless they are connected through another instance.
CREATE FUNCTION parley_instance_remove(p_instance text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    gone text;
    announced integer := 0;
BEGIN
    PERFORM 1 FROM parley_instances WHERE id = p_instance FOR UPDATE;
    FOR gone IN DELETE FROM parley_presence WHERE instance_id = p_instance RETURNING user_id LOOP
        PERFORM parley_presence_lock(gone);
        IF NOT EXISTS (SELECT 1 FROM parley_presence WHERE user_id = gone) THEN
            PERFORM parley_publish(json_build_object('type', 'offline', 'user', gone)::text);
            announced := announced + 1;
        END IF;
    END LOOP;
    DELETE FROM parley_instances WHERE id = p_instance;
    RETURN announced;
END
$$;

-- Removes every instance whose heartbeat is older than ttl; returns how many.
CREATE FUNCTION parley_instances_reap(ttl interval) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    dead text;
    reaped integer := 0;
BEGIN
    FOR dead IN
        SELECT id FROM parley_instances WHERE heartbeat_at < now() - ttl FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM parley_instance_remove(dead);
        reaped := reaped + 1;
    END LOOP;
    DELETE FROM parley_event_spill WHERE created_at < now() - interval '5 minutes';
    RETURN reaped;
END
$$;
