-- Read receipts, edits and deletions.
--
-- A deleted message keeps its row (and its place in the conversation) as a tombstone without
-- text or image, so the content check allows that.

ALTER TABLE messages
    ADD COLUMN read_at    timestamptz,
    ADD COLUMN edited_at  timestamptz,
    ADD COLUMN deleted_at timestamptz;

ALTER TABLE messages
    DROP CONSTRAINT messages_has_content,
    ADD CONSTRAINT messages_has_content CHECK (text IS NOT NULL OR image IS NOT NULL OR deleted_at IS NOT NULL);
