"""The application factory: explicit routes, middleware and one lifespan that owns resources."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from omnichat import shared, times
from omnichat.chat import attachments, escalation, events, search_index
from omnichat.chat.alerts import Alerts
from omnichat.egress import Egress
from omnichat.errors import OmnichatError
from omnichat.jobs import Jobs
from omnichat.metrics import Metrics
from omnichat.notify import queue as notifications
from omnichat.notify import visitor_mail
from omnichat.notify.handlers import MailHandler, PushHandler
from omnichat.notify.seal import Sealer
from omnichat.notify.sender import Sender as NotifySender
from omnichat.protocol.hub import Hub
from omnichat.settings import Settings
from omnichat.signing import Signer
from omnichat.storage import backups, datadir, engine, migrations, restore
from omnichat.twilio import media, outbox
from omnichat.twilio.sender import Sender
from omnichat.web import (
    admin_api,
    agent_api,
    agent_socket,
    attachments_api,
    auth_api,
    backups_api,
    canned_api,
    channels_api,
    health,
    labels_api,
    notify_api,
    openapi,
    pages,
    reports_api,
    sites_api,
    tokens_api,
    twilio_hooks,
    users_api,
    visitor_pages,
    visitor_socket,
    webhooks_api,
    widget_api,
)
from omnichat.web.context import Context
from omnichat.web.middleware import RequestContext
from omnichat.web.responses import error_response, from_error
from omnichat.webhooks import deliveries
from omnichat.webhooks.sender import Sender as WebhookSender

log = logging.getLogger("omnichat.app")
SHUTDOWN_DEADLINE_SECONDS = 10
ALERT_SUMMARY_EVERY_SECONDS = 2
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


async def omnichat_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OmnichatError)
    return from_error(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = {
        404: "No such resource.",
        405: f"Method {request.method} is not allowed here.",
    }.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, code, message, **(exc.headers or {}))


class App(Starlette):
    """Starlette, with the WebSocket endpoints reached directly rather than through its router.

    Every open socket holds the frames of the chain that called its endpoint for its whole life;
    Starlette's middleware, routing and exception wrappers were ~5 KB of each idle widget's
    socket. Sockets still pass through `RequestContext` for their request id and log line.
    """

    def __init__(self, *, sockets: list[WebSocketRoute], metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sockets = {
            route.path: RequestContext(_socket_endpoint(route), metrics) for route in sockets
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._sockets.get(scope["path"]) if scope["type"] == "websocket" else None
        if endpoint is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        await endpoint(scope, receive, send)


def _socket_endpoint(route: WebSocketRoute) -> ASGIApp:
    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = route
        await route.endpoint(WebSocket(scope, receive=receive, send=send))

    return endpoint


def create_app(settings: Settings, hub: Hub | None = None, metrics: Metrics | None = None) -> App:
    """Build the Omnichat ASGI app; nothing loop-bound exists until its lifespan starts.

    Pass the `hub` when the server must reach it from outside the app: `serve` closes its
    sockets and long-polls as soon as shutdown begins. Pass `metrics` to share them with the
    server's connection protocols (`serve` does).
    """
    metrics = metrics or Metrics()
    hub = hub or shared.make_hub(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Context]]:
        # Held for the server's whole life: `restore` refuses while anyone holds it. On
        # PostgreSQL any number of processes share the data, and restore is pg_restore's.
        data_dir_lock = (
            None
            if settings.storage.database_url
            else await asyncio.to_thread(restore.lock_data_dir, settings.data_dir)
        )
        prepared = await asyncio.to_thread(datadir.prepare, settings)
        db = engine.make_database(
            prepared,
            hub,
            Signer(prepared.security.secret_key, prepared.attachments.url_ttl_seconds),
        )
        # Before anything joins the hub (the senders listen for their wake-ups).
        coordination = await shared.start(prepared, hub)
        await db.connect()
        db.cache[visitor_mail.BATCH_KEY] = prepared.email.visitor_batch_seconds
        jobs = Jobs()
        guard = Egress(prepared.egress.allow_hosts)
        alerts = Alerts(
            db, metrics, outbox.enqueue_alert, guard, prepared.alerts.min_interval_seconds
        )
        await alerts.start()
        sealer = Sealer(str(prepared.security.secret_key))
        push_handler = PushHandler(prepared, db, guard)
        ctx = Context(
            settings=prepared,
            metrics=metrics,
            db=db,
            hub=hub,
            jobs=jobs,
            limits=coordination.limits,
            logins=coordination.logins,
            schema_version=max(
                (
                    m.version
                    for m in migrations.discover(
                        migrations.POSTGRES_DIR
                        if prepared.storage.database_url
                        else migrations.MIGRATIONS_DIR
                    )
                ),
                default=0,
            ),
            backups=backups.Backups(prepared, metrics),
            twilio=Sender(prepared.twilio, db, metrics),
            alerts=alerts,
            presence=coordination.presence,
            webhooks=WebhookSender(prepared.webhooks, db, metrics, guard),
            notify=NotifySender(
                prepared.notify, db, metrics, [MailHandler(prepared, db, sealer), push_handler]
            ),
            push=push_handler,
            sealer=sealer,
            forgot=coordination.forgot,
        )
        jobs.start()
        await ctx.backups.schedule(jobs)
        await ctx.twilio.start()
        # Media of incoming SMS/WhatsApp texts (MMS), downloaded from Twilio into attachments.
        fetcher = media.Fetcher(prepared.twilio, prepared.attachments, db, guard)
        await fetcher.start()
        await ctx.webhooks.start()
        await ctx.notify.start()
        jobs.every(
            events.PRUNE_EVERY_SECONDS,
            functools.partial(events.prune, db, prepared.events.retention_hours),
            "events.prune",
            first=times.now(),
        )
        # Steps come due to the second; a pass with nothing due is one indexed query.
        jobs.every(
            1,
            functools.partial(escalation.tick, db, alerts, metrics),
            "escalation",
            first=times.now(),
        )
        jobs.every(30, functools.partial(escalation.auto_close, db, metrics), "auto_close")
        jobs.every(
            attachments.RETENTION_EVERY_SECONDS,
            functools.partial(attachments.expire, db, prepared.attachments.retention_days),
            "attachments.expire",
            first=times.now(),
        )
        jobs.every(deliveries.PRUNE_EVERY_SECONDS, functools.partial(deliveries.prune, db), "hooks")
        jobs.every(
            notifications.PRUNE_EVERY_SECONDS,
            functools.partial(notifications.prune, db),
            "notifications",
        )
        jobs.every(
            search_index.EVERY_SECONDS, functools.partial(search_index.catch_up, db), "search"
        )
        # Alert summaries are due when a site's alert interval ends; a pass is one indexed query.
        jobs.every(ALERT_SUMMARY_EVERY_SECONDS, alerts.send_summaries, "alerts")
        log.info("started", extra={"fields": {"env": prepared.server.env}})
        try:
            yield {"ctx": ctx}
        finally:
            # Reverse order: no new scheduled work, sockets told to go, writes flushed, closed.
            jobs.stop()
            # Calls to Twilio in flight finish (or are cut at a deadline) before the writer closes.
            await ctx.twilio.stop()
            await fetcher.stop()
            await ctx.webhooks.stop()
            await ctx.notify.stop()
            hub.close_all()
            await alerts.close()
            try:
                await asyncio.wait_for(db.close(), SHUTDOWN_DEADLINE_SECONDS)
            except TimeoutError:
                log.error("database writer did not finish within the shutdown deadline")
            await coordination.close()
            log.info("stopped")
            if data_dir_lock is not None:
                data_dir_lock.close()

    return App(
        sockets=[*visitor_socket.routes, *agent_socket.routes],
        metrics=metrics,
        routes=[
            *health.routes,
            *auth_api.routes,
            *backups_api.routes,
            *users_api.routes,
            *sites_api.routes,
            *twilio_hooks.routes,
            *channels_api.routes,
            *admin_api.routes,
            *reports_api.routes,
            *widget_api.routes,
            *agent_api.routes,
            *canned_api.routes,
            *labels_api.routes,
            *tokens_api.routes,
            *webhooks_api.routes,
            *attachments_api.routes,
            *openapi.routes,
            *notify_api.routes,
            *visitor_pages.routes,
            *pages.routes,
        ],
        middleware=[Middleware(RequestContext, metrics=metrics)],
        exception_handlers={OmnichatError: omnichat_error, HTTPException: http_error},
        lifespan=lifespan,
    )
