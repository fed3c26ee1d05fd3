"""Conversations and everything that happens in them: messages, the inbox, escalation, alerts."""
