-- Issue 13: reports read per-conversation facts, kept up in the transaction of the event that
-- sets each one (a message, a status change), so a report over a range reads one row per
-- conversation instead of every message. Durations are computed from these at report time.
ALTER TABLE conversations ADD COLUMN first_visitor_message_at TEXT;
-- The first public agent message after the first visitor message, and who sent it.
ALTER TABLE conversations ADD COLUMN first_response_at TEXT;
ALTER TABLE conversations ADD COLUMN first_responder_id INTEGER REFERENCES users (id);
-- `closed_at` is the latest close (cleared on reopen); reports want the first.
ALTER TABLE conversations ADD COLUMN first_closed_at TEXT;
ALTER TABLE conversations ADD COLUMN escalated_at TEXT;
-- Public messages by side (system messages and private notes are not counted).
ALTER TABLE conversations ADD COLUMN visitor_messages INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN agent_messages INTEGER NOT NULL DEFAULT 0;
-- The two durations (milliseconds from the first visitor message), fixed when the first
-- response and the first close happen, so a report sorts numbers instead of parsing times.
ALTER TABLE conversations ADD COLUMN first_response_ms INTEGER;
ALTER TABLE conversations ADD COLUMN resolution_ms INTEGER;

-- Every report reads a tenant's conversations by the time they started, and only these
-- columns: the index covers them, so a report never visits the table's rows. The message
-- counts make each message update this index too (one more entry rewritten, in the same
-- statement); measured in BENCHMARKS.md.
CREATE INDEX conversations_report ON conversations (
    tenant_id, created_at, site_id, channel, assignee_id, first_responder_id,
    first_response_ms, resolution_ms, escalated_at, rating_score,
    visitor_messages, agent_messages
);
CREATE INDEX followups_started ON followups (tenant_id, created_at);

-- Backfill from the history already stored.
UPDATE conversations
SET visitor_messages = m.visitor, agent_messages = m.agent, first_visitor_message_at = m.first
FROM (
    SELECT conversation_id,
           SUM(sender = 'visitor') AS visitor,
           SUM(sender = 'agent' AND private = 0) AS agent,
           MIN(CASE WHEN sender = 'visitor' THEN created_at END) AS first
    FROM messages GROUP BY conversation_id
) AS m
WHERE m.conversation_id = conversations.id;

UPDATE conversations
SET (first_response_at, first_responder_id) = (
    SELECT r.created_at, r.author_id FROM messages r
    WHERE r.conversation_id = conversations.id AND r.sender = 'agent' AND r.private = 0
      AND r.seq > (SELECT MIN(v.seq) FROM messages v
                   WHERE v.conversation_id = conversations.id AND v.sender = 'visitor')
    ORDER BY r.seq LIMIT 1
)
WHERE first_visitor_message_at IS NOT NULL;

-- The first close: the earliest of the current close, closes by staff in the audit log, the
-- fixed texts of a staff close and an auto-close, and a follow-up (which closes).
UPDATE conversations SET first_closed_at = closed_at;

UPDATE conversations
SET first_closed_at = CASE WHEN first_closed_at IS NULL OR a.at < first_closed_at
                           THEN a.at ELSE first_closed_at END
FROM (
    SELECT CAST(substr(target, 14) AS INTEGER) AS id, MIN(created_at) AS at FROM audit
    WHERE action = 'conversation.closed' AND target LIKE 'conversation:%' GROUP BY 1
) AS a
WHERE a.id = conversations.id;

UPDATE conversations
SET first_closed_at = CASE WHEN first_closed_at IS NULL OR s.at < first_closed_at
                           THEN s.at ELSE first_closed_at END
FROM (
    SELECT conversation_id AS id, MIN(created_at) AS at FROM messages
    WHERE sender = 'system' AND text IN (
        'This conversation was closed. Send a message any time to start again.',
        'This conversation was closed because it was quiet for a while. Send a message any time to start again.'
    ) GROUP BY 1
) AS s
WHERE s.id = conversations.id;

UPDATE conversations
SET first_closed_at = CASE WHEN first_closed_at IS NULL OR f.at < first_closed_at
                           THEN f.at ELSE first_closed_at END
FROM (
    SELECT conversation_id AS id, MIN(created_at) AS at FROM followups
    WHERE conversation_id IS NOT NULL GROUP BY 1
) AS f
WHERE f.id = conversations.id;

-- Escalations: the ones still escalated, and those the retained event log shows.
UPDATE conversations SET escalated_at = updated_at WHERE status = 'escalated';

UPDATE conversations
SET escalated_at = CASE WHEN escalated_at IS NULL OR e.at < escalated_at
                        THEN e.at ELSE escalated_at END
FROM (
    SELECT json_extract(data, '$.conversation.id') AS id, MIN(created_at) AS at FROM events
    WHERE type = 'conversation.updated'
      AND json_extract(data, '$.conversation.status') = 'escalated'
    GROUP BY 1
) AS e
WHERE e.id = conversations.id;

UPDATE conversations
SET first_response_ms = CAST(round(
        (julianday(first_response_at) - julianday(first_visitor_message_at)) * 86400000
    ) AS INTEGER)
WHERE first_response_at IS NOT NULL AND first_visitor_message_at IS NOT NULL;

UPDATE conversations
SET resolution_ms = CAST(round(
        (julianday(first_closed_at) - julianday(first_visitor_message_at)) * 86400000
    ) AS INTEGER)
WHERE first_closed_at >= first_visitor_message_at;
