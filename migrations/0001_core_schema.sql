-- Core schema. Times are RFC 3339 UTC strings with milliseconds ("2026-01-02T03:04:05.678Z"),
-- which sort correctly as text. JSON columns hold objects or arrays encoded by the application.

CREATE TABLE tenants (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- Event ids are a per-tenant sequence; the writer takes the next one from here.
    last_event_id INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE sites (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    site_key TEXT NOT NULL UNIQUE,
    allowed_origins TEXT NOT NULL DEFAULT '[]',
    -- Greeting, escalation timings and texts, business hours...: defaults live in code.
    settings TEXT NOT NULL DEFAULT '{}',
    identity_secret TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX sites_tenant ON sites (tenant_id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    email TEXT NOT NULL COLLATE NOCASE UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'agent')),
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX users_tenant ON users (tenant_id, role);

CREATE TABLE visitors (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    site_id INTEGER NOT NULL REFERENCES sites (id),
    -- SHA-256 of the widget token; the token itself is never stored. NULL for SMS contacts.
    token_hash TEXT UNIQUE,
    name TEXT,
    email TEXT,
    phone TEXT,
    identifier TEXT,
    verified INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
CREATE INDEX visitors_site ON visitors (site_id);

CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    site_id INTEGER NOT NULL REFERENCES sites (id),
    visitor_id INTEGER NOT NULL REFERENCES visitors (id),
    channel TEXT NOT NULL CHECK (channel IN ('web', 'sms', 'whatsapp')),
    status TEXT NOT NULL CHECK (status IN ('open', 'escalated', 'closed')),
    assignee_id INTEGER REFERENCES users (id),
    last_seq INTEGER NOT NULL DEFAULT 0,
    -- The escalation clock: when the oldest visitor message still without an agent reply came.
    waiting_since TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT,
    -- One conversation per visitor and channel; a message after close reopens it.
    UNIQUE (visitor_id, channel)
);
CREATE INDEX conversations_inbox ON conversations (tenant_id, status, updated_at);
CREATE INDEX conversations_assignee ON conversations (tenant_id, assignee_id, status);
CREATE INDEX conversations_waiting ON conversations (waiting_since) WHERE waiting_since IS NOT NULL;

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    seq INTEGER NOT NULL,
    sender TEXT NOT NULL CHECK (sender IN ('visitor', 'agent', 'system')),
    author_id INTEGER REFERENCES users (id),
    text TEXT NOT NULL,
    private INTEGER NOT NULL DEFAULT 0,
    client_id TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (conversation_id, seq),
    UNIQUE (conversation_id, client_id)
);

CREATE TABLE followups (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    conversation_id INTEGER REFERENCES conversations (id),
    visitor_id INTEGER REFERENCES visitors (id),
    name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'viewed', 'archived')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX followups_inbox ON followups (tenant_id, status, id);
CREATE INDEX followups_visitor ON followups (visitor_id, created_at);

-- Append-only log of what agents must see, so a reconnecting agent resumes by event id.
CREATE TABLE events (
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    id INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX events_age ON events (created_at);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER REFERENCES tenants (id),
    actor_id INTEGER REFERENCES users (id),
    action TEXT NOT NULL,
    target TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    ip TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX audit_tenant ON audit (tenant_id, id);
