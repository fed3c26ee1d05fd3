-- Issue 15: API tokens for other programs. The secret is shown once and stored only as its
-- SHA-256 (it holds 256 random bits, so a fast digest is enough). Revoked tokens keep their row
-- so the audit log can still name them.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    -- Who made it: the token acts for this user, never above their current role.
    user_id INTEGER NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('agent', 'admin', 'owner')),
    secret_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id, id);

-- The token an action was done with (NULL for a person signed in).
ALTER TABLE audit ADD COLUMN token_id INTEGER REFERENCES api_tokens (id);
