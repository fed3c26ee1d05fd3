"""What every handler can reach: the resources the lifespan opened, in one typed object."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from omnichat.accounts.links import Forgetting
from omnichat.accounts.presence import Presence
from omnichat.accounts.throttle import Throttle
from omnichat.chat.alerts import Alerts
from omnichat.jobs import Jobs
from omnichat.metrics import Metrics
from omnichat.notify.handlers import PushHandler
from omnichat.notify.seal import Sealer
from omnichat.notify.sender import Sender as NotifySender
from omnichat.protocol.hub import Hub
from omnichat.ratelimit import VisitorLimits
from omnichat.settings import Settings
from omnichat.storage.backups import Backups
from omnichat.storage.db import Database
from omnichat.twilio.sender import Sender
from omnichat.webhooks.sender import Sender as WebhookSender


@dataclass
class Context:
    settings: Settings
    metrics: Metrics
    db: Database
    hub: Hub
    jobs: Jobs
    limits: VisitorLimits
    logins: Throttle
    # The newest migration this code ships; readiness compares the database against it.
    schema_version: int
    backups: Backups
    # The SMS/WhatsApp outbox worker (idle when Twilio is not configured).
    twilio: Sender
    alerts: Alerts
    # Who has an agent socket open in this process (online staff, auto-assignment).
    presence: Presence
    # The outgoing webhooks' delivery worker; its `egress` checks the URLs admins save.
    webhooks: WebhookSender
    # Mail and push: the queue's worker, the push channel (its VAPID keys), the sealer of
    # links waiting in the queue, and the throttle of password-reset requests.
    notify: NotifySender
    push: PushHandler
    sealer: Sealer
    forgot: Forgetting


def context(connection: HTTPConnection) -> Context:
    """The context of the app serving this request or socket."""
    ctx: Context = connection.state.ctx
    return ctx
