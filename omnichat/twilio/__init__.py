"""SMS and WhatsApp through Twilio: signed webhooks in, a durable outbox out.

`phones` normalises numbers, `signature` checks X-Twilio-Signature, `incoming` turns a verified
webhook into a contact's message, `outbox` holds what must be sent (written in the message's own
transaction), `delivery` records what became of it, and `sender` is the worker that calls the
Twilio API through `api`, pausing behind the `circuit` breaker while the provider keeps failing.
"""
