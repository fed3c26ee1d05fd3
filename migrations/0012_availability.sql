-- Availability and auto-assignment. `availability` is the switch each staff member sets
-- (online or away); whether they are really online also needs an open agent socket, which only
-- the serving process knows. `last_assigned_at` is when auto-assignment last gave them a
-- conversation: the round-robin picks whoever waited longest.

ALTER TABLE users ADD COLUMN availability TEXT NOT NULL DEFAULT 'online'
    CHECK (availability IN ('online', 'away'));
ALTER TABLE users ADD COLUMN last_assigned_at TEXT;
