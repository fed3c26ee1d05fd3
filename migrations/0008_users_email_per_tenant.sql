-- Emails are unique per tenant, no longer across the installation: with one global UNIQUE, a
-- tenant's admin learned from a 409 which addresses had accounts in other tenants. Sign-in finds
-- an email's accounts in every tenant (the users_email index) and, when several share the
-- password, asks which tenant.
-- SQLite cannot drop a UNIQUE constraint, so the table is rebuilt with the same ids; the
-- migration runner turns foreign key enforcement off meanwhile and checks every reference to
-- users (sessions, messages, conversations, audit, read markers) before committing.

CREATE TABLE users_rebuilt (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    email TEXT NOT NULL COLLATE NOCASE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'agent')),
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, email)
);

INSERT INTO users_rebuilt (id, tenant_id, email, name, role, password_hash, disabled,
    failed_logins, must_change_password, created_at, updated_at)
SELECT id, tenant_id, email, name, role, password_hash, disabled,
    failed_logins, must_change_password, created_at, updated_at
FROM users;

DROP TABLE users;

ALTER TABLE users_rebuilt RENAME TO users;

CREATE INDEX users_tenant ON users (tenant_id, role);
CREATE INDEX users_email ON users (email);
