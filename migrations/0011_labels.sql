-- Labels: admin-defined names with a colour, set on conversations by agents. Names are unique
-- per tenant ignoring case: `name_key` holds the case-folded name (Python's str.casefold, which
-- folds beyond ASCII, unlike SQLite's NOCASE).

CREATE TABLE labels (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    color TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, name_key)
);

-- Deleting a label takes it off every conversation.
CREATE TABLE conversation_labels (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    label_id INTEGER NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    PRIMARY KEY (conversation_id, label_id)
) WITHOUT ROWID;
-- The label filter reads conversations by label.
CREATE INDEX conversation_labels_label ON conversation_labels (label_id, conversation_id);
