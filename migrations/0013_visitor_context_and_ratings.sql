-- Issue 11: what the widget's page knows about its visitor, the pages they visit during a chat,
-- and the visitor's rating of a closed conversation.

-- {"url","title","referrer","language","timezone","browser","os"} as JSON; NULL until the widget
-- sends a context (SMS and WhatsApp contacts never do).
ALTER TABLE visitors ADD COLUMN context TEXT;

-- The pages a web visitor opened, newest last; the writer keeps the 50 newest per visitor
-- (a visitor has at most one web conversation, so these are that conversation's pages).
CREATE TABLE visitor_pages (
    id INTEGER PRIMARY KEY,
    visitor_id INTEGER NOT NULL REFERENCES visitors (id),
    url TEXT NOT NULL,
    title TEXT,
    at TEXT NOT NULL
);
CREATE INDEX visitor_pages_visitor ON visitor_pages (visitor_id, id);

-- One rating per close: a conversation reopened and closed again may be rated again (the new
-- rating replaces the old one), rated_at < closed_at tells whether the current close is rated.
ALTER TABLE conversations ADD COLUMN rating_score INTEGER CHECK (rating_score BETWEEN 1 AND 5);
ALTER TABLE conversations ADD COLUMN rating_comment TEXT;
ALTER TABLE conversations ADD COLUMN rated_at TEXT;
