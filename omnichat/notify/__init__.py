"""Reaching staff who are not looking: one durable queue of notifications, email and push.

`queue` owns the notifications table (rows written in the transaction of their cause, claimed,
retried with backoff, given up on), `sender` is the worker that drains it through a small
handler per channel (`mail`, `push`), `prefs` holds each user's choice of channels per event,
`events` decides who hears of what, and `seal` keeps secrets in queued rows unreadable without
the server's secret key.
"""
