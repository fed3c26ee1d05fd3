-- Staff sessions. A session is one refresh-token family: each refresh replaces the current token
-- and remembers the old one, so a replayed old token is recognised and revokes the family.
-- Tokens are stored only as SHA-256 hex digests.

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    ip TEXT,
    user_agent TEXT,
    created_at TEXT NOT NULL,
    refreshed_at TEXT NOT NULL,
    -- Slides forward with each refresh.
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_reason TEXT
);
CREATE INDEX sessions_user ON sessions (user_id, revoked_at);

CREATE TABLE rotated_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    rotated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX rotated_tokens_session ON rotated_tokens (session_id);
