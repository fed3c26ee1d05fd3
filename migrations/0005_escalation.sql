-- Escalation state, so the once-a-second job finds due steps with one indexed query and a
-- restart neither repeats nor skips a step.

-- Which steps (1 = patience, 2 = escalation) are done for the clock now running (waiting_since).
ALTER TABLE conversations ADD COLUMN clock_steps INTEGER NOT NULL DEFAULT 0;
-- When the escalation job must next look at this conversation; NULL when nothing is pending.
ALTER TABLE conversations ADD COLUMN next_step_at TEXT;

CREATE INDEX conversations_next_step ON conversations (next_step_at)
WHERE next_step_at IS NOT NULL;

-- Whatever code starts or stops the clock (messages.insert today, other channels tomorrow), the
-- job hears of it: a new clock starts with no step done and is due for planning at once; a
-- stopped clock has nothing pending. Doing this here means no code path can forget it.
CREATE TRIGGER conversations_clock_changed
AFTER UPDATE OF waiting_since ON conversations
WHEN new.waiting_since IS NOT old.waiting_since
BEGIN
    UPDATE conversations SET clock_steps = 0, next_step_at = new.waiting_since
    WHERE id = new.id;
END;

-- Clocks already running when this migration is applied are planned by the first pass.
UPDATE conversations SET next_step_at = waiting_since
WHERE waiting_since IS NOT NULL AND status != 'closed';
