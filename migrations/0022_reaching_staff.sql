-- Issue 14: reaching staff who are not looking (email, web push, password reset, invitations).

-- Each user's choice of which events reach them by which channel: a JSON object
-- {"new_conversation": ["push"], "assigned": [...], "escalated": [...], "followup": [...]};
-- NULL means the contract's defaults.
ALTER TABLE users ADD COLUMN notify TEXT;

-- Password-reset and invitation links. Only the SHA-256 of the token is kept (it holds 256
-- random bits, so a fast digest is enough); a row is used once, then `used_at` is set.
CREATE TABLE account_links (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('reset', 'invite')),
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX account_links_user ON account_links (user_id, kind);

-- A browser's push subscription, per user and device. The endpoint is the push service's URL
-- for that browser profile: unique, so signing in as someone else on the same browser moves it.
CREATE TABLE push_subscriptions (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint TEXT NOT NULL UNIQUE,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);

-- The installation's VAPID key pair, made at first start. Kept in the database so every backup
-- carries it with the subscriptions that depend on it (a restore keeps push working).
CREATE TABLE push_keys (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    private_pem TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- The one durable queue of notifications, email and push alike, written in the transaction of
-- what caused them. The sender moves a row queued -> sending -> sent, or to retrying with a
-- later next_attempt_at, and to failed when it gives up. `payload` is sealed (AES-GCM under a
-- key derived from the secret key): it may hold a reset link or a message preview.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    channel TEXT NOT NULL CHECK (channel IN ('email', 'push')),
    kind TEXT NOT NULL,
    user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    subscription_id INTEGER REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    payload BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'retrying', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX notifications_due ON notifications (next_attempt_at)
    WHERE status IN ('queued', 'retrying');
