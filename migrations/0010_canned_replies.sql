-- Canned replies: an agent's personal ones (owner_id set) and the tenant's shared ones
-- (owner_id NULL, managed by admins). A shortcut is unique among the tenant's shared replies and
-- among each user's personal ones; the two namespaces are separate.

CREATE TABLE canned_replies (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    owner_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    shortcut TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX canned_replies_shared ON canned_replies (tenant_id, shortcut)
    WHERE owner_id IS NULL;
CREATE UNIQUE INDEX canned_replies_personal ON canned_replies (owner_id, shortcut)
    WHERE owner_id IS NOT NULL;
