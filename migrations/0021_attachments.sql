-- Attachments: files visitors, staff and SMS/WhatsApp contacts send with a message.
--
-- The bytes live in this database file (attachment_chunks), so the one-file backup holds them
-- and `restore` brings them back with the messages they belong to. A file is uploaded first
-- (message_id NULL) and claimed by at most one message of its uploader: a visitor
-- (visitor_id) or a staff member (user_id). `expired_at` is set when retention deleted the
-- bytes; the row stays so the message can say the file expired.
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    visitor_id INTEGER REFERENCES visitors (id),
    user_id INTEGER REFERENCES users (id),
    message_id INTEGER REFERENCES messages (id),
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expired_at TEXT
);
CREATE INDEX attachments_message ON attachments (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX attachments_created ON attachments (created_at) WHERE expired_at IS NULL;
CREATE INDEX attachments_visitor ON attachments (visitor_id, created_at);

-- The bytes in slices of 256 KiB: a download or a Range request reads only the slices it
-- needs, and no statement ever holds a whole 10 MB file.
CREATE TABLE attachment_chunks (
    attachment_id INTEGER NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (attachment_id, n)
);
