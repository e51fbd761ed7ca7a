-- The foreign keys from messages to users checked every stored row on its own: two lookups, each
-- through its own query, for every message. With batches of a few hundred messages that was a
-- fifth of PostgreSQL's time per message. The same rules are kept with one check per statement:
--
-- * Inserting messages: one statement-level check of the statement's distinct users. It locks
--   them FOR KEY SHARE, as the foreign keys did, so that a user cannot be deleted between the
--   check and the commit, and fails with foreign_key_violation (23503), as they did. (An import
--   checks its users itself, see below.)
-- * Changing a message's sender or receiver: the same, for that row.
-- * Deleting a user, or changing a user's id, while messages refer to them, and truncating users
--   while there are messages: refused with foreign_key_violation.
--
-- An older Parley started on this schema restores what an interrupted import set aside, the
-- foreign keys included: that is still correct, only slower.

ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_sender_id_fkey;

ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_receiver_id_fkey;

-- Locks the users `wanted` (distinct ids) names and fails if one of them does not exist.
CREATE FUNCTION parley_require_users(wanted text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    found bigint;
    missing text;
BEGIN
    PERFORM 1 FROM users WHERE id = ANY (wanted) FOR KEY SHARE;
    GET DIAGNOSTICS found = ROW_COUNT;
    IF found < cardinality(wanted) THEN
        SELECT w INTO missing FROM unnest(wanted) AS w WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = w) LIMIT 1;
        RAISE EXCEPTION 'a message refers to a user that does not exist'
            USING ERRCODE = 'foreign_key_violation', DETAIL = format('No user has id %s.', missing),
                  TABLE = 'messages';
    END IF;
END
$$;

-- An import (parley copy, which sets parley.deferred_summaries) is not checked here: it checks
-- every batch's users itself, against the target and the source, before inserting it.
CREATE FUNCTION parley_messages_inserted_check_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('parley.deferred_summaries', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM parley_require_users(ARRAY(SELECT sender_id FROM checked_rows UNION SELECT receiver_id FROM checked_rows));
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_check_users AFTER INSERT ON messages
    REFERENCING NEW TABLE AS checked_rows
    FOR EACH STATEMENT EXECUTE FUNCTION parley_messages_inserted_check_users();

CREATE FUNCTION parley_message_users_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM parley_require_users(ARRAY(SELECT DISTINCT u FROM unnest(ARRAY[NEW.sender_id, NEW.receiver_id]) AS u));
    RETURN NEW;
END
$$;

CREATE TRIGGER messages_check_changed_users BEFORE UPDATE OF sender_id, receiver_id ON messages
    FOR EACH ROW EXECUTE FUNCTION parley_message_users_changed();

-- Runs after the user's row is locked, so an insert still holding its lock is waited for and
-- then seen.
CREATE FUNCTION parley_user_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM messages WHERE sender_id = OLD.id)
        OR EXISTS (SELECT 1 FROM messages WHERE receiver_id = OLD.id) THEN
        RAISE EXCEPTION 'user % has messages', OLD.id
            USING ERRCODE = 'foreign_key_violation', TABLE = 'users';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE TRIGGER users_keep_message_authors BEFORE DELETE OR UPDATE OF id ON users
    FOR EACH ROW EXECUTE FUNCTION parley_user_removed();

CREATE FUNCTION parley_users_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM messages) THEN
        RAISE EXCEPTION 'users cannot be truncated while there are messages'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'users',
                  HINT = 'Truncate messages first, in a statement of its own.';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_keep_message_authors_on_truncate BEFORE TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION parley_users_truncated();
