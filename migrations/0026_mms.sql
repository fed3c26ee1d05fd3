-- MMS: files of SMS and WhatsApp messages, both ways.

-- Outbound: the attachment ids a reply sends as Twilio MediaUrl parameters (a JSON list, NULL
-- for a text alone). The links are signed when the row is sent, not when it is queued.
ALTER TABLE outbox ADD COLUMN media TEXT;

-- Inbound: one row per media item of a contact's text, written in the message's transaction
-- and fetched from Twilio by a worker, retried with backoff; `done` when the file is stored on
-- the message, `failed` when given up (the conversation then gets a private note saying so).
CREATE TABLE media_fetches (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    message_id INTEGER NOT NULL REFERENCES messages (id),
    visitor_id INTEGER NOT NULL REFERENCES visitors (id),
    n INTEGER NOT NULL,
    url TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (message_id, n)
);
CREATE INDEX media_fetches_due ON media_fetches (next_attempt_at) WHERE status = 'pending';
