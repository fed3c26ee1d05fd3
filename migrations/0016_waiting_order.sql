-- The active view (open and escalated, issue 11) lists who has waited longest first: this index
-- holds that order, so a page is read in order instead of sorting every waiting conversation.
-- The expression and the condition are exactly those of inbox.page's query.
CREATE INDEX conversations_waiting_order
ON conversations (tenant_id, COALESCE(waiting_since, '~'), updated_at DESC, id DESC)
WHERE status IN ('open', 'escalated');
