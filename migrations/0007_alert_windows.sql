-- Alert throttling per site (issue 10: from one address, six visitors' follow-ups sent 18
-- webhook POSTs in 0.2 s, and 15 follow-ups queued 30 texts to two on-call numbers). A site's
-- first alert goes out at once; what happens in the next alerts.min_interval_seconds is counted
-- here, in the same transaction as its cause, and told in one summary when the interval ends.
CREATE TABLE alert_windows (
    site_id INTEGER PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    -- When the site's last alert (or summary) went out.
    last_sent_at TEXT NOT NULL,
    -- Conversations escalated and follow-ups left since then, not yet told.
    escalated INTEGER NOT NULL DEFAULT 0,
    followups INTEGER NOT NULL DEFAULT 0,
    -- When the summary of those is due; NULL while nothing is owed.
    due_at TEXT
);

CREATE INDEX alert_windows_due ON alert_windows (due_at) WHERE due_at IS NOT NULL;
