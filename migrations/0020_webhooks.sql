-- Outgoing webhooks: where a tenant's events are POSTed, and the durable queue of deliveries.

-- `secret` signs every delivery (HMAC-SHA256); it is shown once when the webhook is made and
-- never returned again. `events` is a JSON list of event names.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id);

-- One row per event and webhook, written in the same transaction as the event. The sender
-- moves it queued -> sending -> delivered, or back to retrying with a later next_attempt_at,
-- and to failed when the retry window is over. `data` is the event's JSON, as agents get it.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    data TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'retrying', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    -- When it (re)entered the queue: written, or resent by an admin. The retry window counts
    -- from here.
    queued_at TEXT NOT NULL,
    response_status INTEGER,
    last_error TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    updated_at TEXT NOT NULL
);
-- The sender's scan: due rows, oldest first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status IN ('queued', 'retrying');
-- The delivery log: a webhook's newest rows.
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
