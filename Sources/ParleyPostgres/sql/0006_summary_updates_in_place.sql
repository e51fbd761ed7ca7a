-- Every stored message updates its conversation's summary row (0004). Both secondary indexes of
-- parley_conversations held last_seq, which each message changes, so no update could be done in
-- place (a HOT update): each wrote a new row version plus three index entries, about a quarter of
-- the time PostgreSQL spent storing a message.
--
-- Their keys become ones that never change: user_lo lookups use the primary key (user_lo,
-- user_hi), and user_hi gets an index of its own. The sidebar still reads a user's conversations
-- through those two and sorts them by last_seq, as it did. Pages keep half their space free, so
-- an updated row finds room next to its previous version; pages filled before this migration get
-- that room as vacuum frees them.

DROP INDEX parley_conversations_lo;

DROP INDEX parley_conversations_hi;

CREATE INDEX parley_conversations_hi ON parley_conversations (user_hi);

ALTER TABLE parley_conversations SET (fillfactor = 50);
