-- Issue 14: replies mailed to visitors who left, and escalation alerts by email.

-- A visitor who followed the unsubscribe link in a reply mail gets no more of them.
ALTER TABLE visitors ADD COLUMN mail_unsubscribed INTEGER NOT NULL DEFAULT 0;

-- Per conversation, the batch of staff replies waiting to be mailed to its visitor (the
-- notification that will carry them) and the last message seq already mailed, so a reply is
-- mailed once even when it arrives while the previous mail is being sent.
CREATE TABLE visitor_mail_batches (
    conversation_id INTEGER PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    notification_id INTEGER,
    mailed_through INTEGER NOT NULL DEFAULT 0
);
