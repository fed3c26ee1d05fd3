-- Index messages for search in bulk, off the message's own transaction (issue 9: the per-row
-- FTS5 trigger was ~50 us of server CPU per message, most of it a new index segment written on
-- every small commit). A job indexes what came since `indexed_through` about once a second,
-- and a search first catches the index up, so search still sees every message.
DROP TRIGGER messages_fts_insert;

CREATE TABLE search_progress (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- Messages with ids up to this one are in messages_fts.
    indexed_through INTEGER NOT NULL
);
INSERT INTO search_progress (id, indexed_through) SELECT 1, COALESCE(MAX(id), 0) FROM messages;

-- A row not indexed yet must not be "deleted" from the index: with external content, removing
-- terms that were never added corrupts it. Such a row is indexed with its new text later.
DROP TRIGGER messages_fts_delete;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT indexed_through FROM search_progress)
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;

DROP TRIGGER messages_fts_update;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages
WHEN old.id <= (SELECT indexed_through FROM search_progress)
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
