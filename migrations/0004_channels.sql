-- SMS and WhatsApp through Twilio: the numbers sites receive on, contacts known by phone, and
-- the outbox every outbound text goes through.

-- E.164 numbers ("+15550100123"). A Twilio number picks exactly one site, across all tenants.
ALTER TABLE sites ADD COLUMN sms_number TEXT;
ALTER TABLE sites ADD COLUMN whatsapp_number TEXT;
CREATE UNIQUE INDEX sites_sms_number ON sites (sms_number) WHERE sms_number IS NOT NULL;
CREATE UNIQUE INDEX sites_whatsapp_number ON sites (whatsapp_number)
    WHERE whatsapp_number IS NOT NULL;

-- An SMS or WhatsApp contact is a visitor with no token, a phone and the channel it writes on:
-- one per tenant, channel and number. Web visitors keep contact_channel NULL, so a phone a web
-- visitor types somewhere never becomes an address we text.
ALTER TABLE visitors ADD COLUMN contact_channel TEXT
    CHECK (contact_channel IS NULL OR contact_channel IN ('sms', 'whatsapp'));
CREATE UNIQUE INDEX visitors_contact ON visitors (tenant_id, contact_channel, phone)
    WHERE contact_channel IS NOT NULL;

-- Every outbound text, written in the same transaction as the message it carries (or, for an
-- alert to staff, as the step that raised it). The sender worker moves a row
-- pending -> sending -> queued (Twilio accepted it) and status callbacks carry it on to sent,
-- delivered, read or undelivered; a permanent refusal is failed.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    site_id INTEGER NOT NULL REFERENCES sites (id),
    -- The conversation message this row sends; NULL for an alert to staff.
    message_id INTEGER UNIQUE REFERENCES messages (id),
    kind TEXT NOT NULL CHECK (kind IN ('reply', 'alert')),
    channel TEXT NOT NULL CHECK (channel IN ('sms', 'whatsapp')),
    to_number TEXT NOT NULL,
    from_number TEXT,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN (
        'pending', 'sending', 'queued', 'sent', 'delivered', 'read', 'undelivered', 'failed'
    )),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    -- When it (re)entered the queue: written, or retried by an agent. Still unsent
    -- twilio.give_up_after_seconds later, it is failed ("expired").
    queued_at TEXT NOT NULL,
    -- The idempotency key of the current attempt, written before the call; the status callback
    -- URL carries it, so a callback can prove an attempt whose answer we never recorded.
    attempt_id TEXT,
    provider_sid TEXT UNIQUE,
    error_code TEXT,
    error_message TEXT,
    -- When Twilio accepted it (per-number rate cap).
    sent_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
-- Texts to one number leave in order: a row waits while an older one to that number is unsent.
CREATE INDEX outbox_unsent ON outbox (channel, to_number, id) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_recent ON outbox (to_number, sent_at) WHERE sent_at IS NOT NULL;
