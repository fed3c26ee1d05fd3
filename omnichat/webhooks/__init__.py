"""Outgoing webhooks: a tenant's events POSTed, signed, to the URLs its admins chose.

`endpoints` owns the webhooks table (checked URLs, secrets, the cached subscriptions),
`deliveries` the durable queue written in each event's own transaction, and `sender` the worker
that POSTs them with retries, backoff and a circuit breaker per webhook.
"""
