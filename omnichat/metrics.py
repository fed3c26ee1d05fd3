"""Prometheus instruments, in a registry of their own per app so tests can build many apps."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

DROP_REASONS = (
    "per_ip",
    "max_connections",
    "idle",
    "head_timeout",
    "body_timeout",
    "head_too_large",
    "malformed",
)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "omnichat_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "omnichat_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_client_disconnects = Counter(
            "omnichat_http_client_disconnects",
            "Requests whose client went away before its body arrived, by route template.",
            ["route"],
            registry=self.registry,
        )
        self.http_connections_open = Gauge(
            "omnichat_http_connections_open",
            "Open client connections, HTTP and WebSocket (server.max_connections caps them).",
            registry=self.registry,
        )
        self.http_connections_dropped = Counter(
            "omnichat_http_connections_dropped",
            "Connections refused or closed before an answer, by reason (per_ip, max_connections,"
            " idle, head_timeout, body_timeout, head_too_large, malformed).",
            ["reason"],
            registry=self.registry,
        )
        for reason in DROP_REASONS:
            self.http_connections_dropped.labels(reason)  # present at 0, so alerts see them

        self.sockets_open = Gauge(
            "omnichat_websockets_open",
            "Open WebSockets by kind (visitor, agent).",
            ["kind"],
            registry=self.registry,
        )
        self.logins = Counter(
            "omnichat_logins",
            "Staff sign-in attempts by outcome (success, failure, throttled).",
            ["outcome"],
            registry=self.registry,
        )
        self.backups = Counter(
            "omnichat_backups",
            "Backups by kind (scheduled, download) and outcome (ok, failed).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        for kind in ("scheduled", "download"):
            for outcome in ("ok", "failed"):
                self.backups.labels(kind, outcome)  # present at 0, so alerts see them
        self.backup_last_success = Gauge(
            "omnichat_backup_last_success_timestamp_seconds",
            "Unix time of the newest good backup in the backups dir (0: none).",
            registry=self.registry,
        )
        self.backup_duration = Histogram(
            "omnichat_backup_duration_seconds",
            "Time to copy, check and store one backup.",
            buckets=(0.05, 0.25, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0),
            registry=self.registry,
        )
        self.escalation_steps = Counter(
            "omnichat_escalation_steps",
            "Automatic steps taken (patience, escalated, auto_close).",
            ["step"],
            registry=self.registry,
        )
        self.escalation_lateness = Histogram(
            "omnichat_escalation_step_lateness_seconds",
            "How long after its due time a patience or escalation step fired.",
            buckets=(0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 5.0, 30.0, 300.0),
            registry=self.registry,
        )
        self.alert_deliveries = Counter(
            "omnichat_alert_deliveries",
            "Webhook alerts by outcome (sent, failed, refused: an internal destination);"
            " alert SMS count among the outbox sends.",
            ["channel", "outcome"],
            registry=self.registry,
        )
        for outcome in ("sent", "failed", "refused"):
            self.alert_deliveries.labels("webhook", outcome)  # present at 0, so alerts see them
        self.outbox_sends = Counter(
            "omnichat_outbox_sends",
            "Outbound SMS/WhatsApp attempts by outcome (accepted, retry, unknown, permanent,"
            " deferred, expired).",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("accepted", "retry", "unknown", "permanent"):
            self.outbox_sends.labels(outcome)  # present at 0, so alerts see them
        self.outbox_unsent = Gauge(
            "omnichat_outbox_unsent",
            "Outbound texts not yet accepted by Twilio (pending or sending).",
            registry=self.registry,
        )
        self.twilio_circuit = Gauge(
            "omnichat_twilio_circuit",
            "1 for the Twilio circuit breaker's current state (closed, open, half_open).",
            ["state"],
            registry=self.registry,
        )
        self.twilio_webhooks = Counter(
            "omnichat_twilio_webhooks",
            "Twilio webhooks by kind (message, status) and outcome (stored, duplicate,"
            " rejected, ignored).",
            ["kind", "outcome"],
            registry=self.registry,
        )

        self.webhook_deliveries = Counter(
            "omnichat_webhook_deliveries",
            "Outgoing webhook delivery attempts by outcome (delivered, retry, failed: gave up,"
            " expired: past the retry window, refused: an internal destination).",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("delivered", "retry", "failed", "expired", "refused"):
            self.webhook_deliveries.labels(outcome)  # present at 0, so alerts see them
        self.webhook_waiting = Gauge(
            "omnichat_webhook_waiting",
            "Outgoing webhook deliveries not yet delivered nor failed.",
            registry=self.registry,
        )

        self.notify_sends = Counter(
            "omnichat_notifications",
            "Mail and push attempts by channel (email, push) and outcome (sent, retry, failed,"
            " gone: a push subscription its service dropped, expired: past the retry window,"
            " off: email is not configured).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        for channel in ("email", "push"):
            for outcome in ("sent", "retry", "failed"):
                self.notify_sends.labels(channel, outcome)  # present at 0, so alerts see them
        self.notify_waiting = Gauge(
            "omnichat_notifications_waiting",
            "Mails and pushes queued and not yet sent nor given up on, by channel.",
            ["channel"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
