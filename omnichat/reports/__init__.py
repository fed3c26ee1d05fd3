"""Reports for admins: figures over a tenant's conversations started in a date range.

Every figure reads the per-conversation facts the chat keeps up as events happen (migration
0024: first visitor message, first response and its author, first close, first escalation,
public message counts by side, the rating), so a report costs one indexed pass over the
conversations of its range, never a pass over their messages. docs/reports.md defines each
figure.
"""
