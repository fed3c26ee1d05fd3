"""Settings, declared once: one frozen dataclass per section, each field with its default and help.

Values come from `settings.toml` and are overridden by `OMNICHAT_<SECTION>_<KEY>` environment
variables. Unknown keys, wrong types and out-of-range values fail at start-up with one line that
names the key.
"""

from __future__ import annotations

import collections
import dataclasses
import ipaddress
import math
import secrets
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omnichat.phones import COUNTRIES

ENV_PREFIX = "OMNICHAT_"
CONFIG_ENV = "OMNICHAT_CONFIG"
MIN_SECRET_BYTES = 32
# Values people paste from examples; production refuses them whatever their length.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "your-secret-key", "please-change-this-secret-key"}
)
# A key must look random, not merely be long: `a` * 44 or "changeme" four times are 32+ bytes.
# The thresholds refuse what people make up and pass generated keys: 64 hex digits (openssl rand
# -hex 32) hold 16 distinct characters and ~250 bits by the estimate below, token_urlsafe(48)
# ~380 (none of 80,000 generated keys tripped a rule). 32 hex digits are 16 random bytes, not
# the 32 production asks for, and estimate at ~115 bits: refused.
MIN_SECRET_DISTINCT = 10
MIN_SECRET_BITS = 128
# A chunk of this many characters found this often means a repeated pattern.
REPEAT_CHUNK, REPEAT_TIMES = 4, 3
# Found (in any case) in keys people write or copy from examples; a random key holds one of
# these by chance with odds of a few in a million each.
WEAK_SECRET_WORDS = (
    "change",
    "secret",
    "passw",
    "example",
    "default",
    "placeholder",
    "sample",
    "dummy",
    "insecure",
    "replace",
    "qwerty",
    "letmein",
    "omnichat",
    "123456",
    "abcdef",
)
GENERATE_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
DEFAULT_PROXIES = "127.0.0.1"


class SettingsError(Exception):
    """A setting is missing, unknown or invalid; the message is one line naming it."""


class Secret(str):
    """A string that never shows itself in `repr`, so settings can be logged safely."""

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"


def setting(default: Any, help: str, **checks: Any) -> Any:
    """Declare a field with its default, one-line help and optional checks (choices, min, max)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **checks})
    return field(default=default, metadata={"help": help, **checks})


@dataclass(frozen=True)
class ServerSettings:
    host: str = setting("127.0.0.1", "Address to listen on.")
    port: int = setting(8000, "TCP port to listen on.", min=1, max=65535)
    env: str = setting(
        "development", "development or production.", choices=("development", "production")
    )
    log_level: str = setting("info", "Log level.", choices=("debug", "info", "warning", "error"))
    log_format: str = setting(
        "auto",
        "json (a JSON object per line), console (coloured lines for people) or auto: console in"
        " development when stderr is a terminal, else json.",
        choices=("auto", "json", "console"),
    )
    forwarded_allow_ips: str = setting(
        DEFAULT_PROXIES,
        "Proxies trusted for X-Forwarded-For/Proto (comma separated). The default trusts any"
        " local process to claim any client address: list only your proxies.",
    )
    ws_ping_interval_seconds: float = setting(
        20.0, "WebSocket ping interval; dead peers are dropped after one more.", min=1
    )
    max_body_bytes: int = setting(65536, "Largest accepted HTTP request body.", min=1024)
    header_timeout_seconds: float = setting(
        10.0, "A request head must arrive whole this soon after it starts, else close.", min=0.1
    )
    body_timeout_seconds: float = setting(
        30.0, "A request body must arrive whole this soon after its head, else close.", min=0.1
    )
    keepalive_seconds: float = setting(
        5.0, "An idle connection between two requests is closed after this long.", min=0.1
    )
    max_connections: int = setting(
        10000, "Open connections (HTTP and WebSocket) at most; more are refused.", min=16
    )
    public_url: str = setting(
        "",
        "Base URL people reach this server at (https://chat.example.org): the links in emails."
        " Empty: twilio.public_base_url.",
    )


@dataclass(frozen=True)
class StorageSettings:
    data_dir: str = setting("./data", "Directory holding the SQLite file and backups.")
    synchronous: str = setting(
        "full",
        "SQLite synchronous mode: full survives power loss; normal only process crashes.",
        choices=("full", "normal"),
    )
    busy_timeout_ms: int = setting(5000, "How long a connection waits for a lock.", min=0)
    database_url: Secret = setting(  # noqa: RUF009 (Secret is an immutable str)
        Secret(""),
        "Empty: SQLite in the data dir. postgresql://USER:PASS@HOST:PORT/DB: PostgreSQL, shared"
        " by any number of processes (with hub.redis_url).",
    )


@dataclass(frozen=True)
class HubSettings:
    redis_url: Secret = setting(  # noqa: RUF009 (Secret is an immutable str)
        Secret(""),
        "Empty: live frames stay in this process. redis://HOST:PORT/N: shared by every process"
        " (needs storage.database_url).",
    )


@dataclass(frozen=True)
class SecuritySettings:
    secret_key: Secret = setting(  # noqa: RUF009 (Secret is an immutable str)
        Secret(""), "Signs access tokens; 32+ bytes. Generated into the data dir in development."
    )
    access_token_ttl_seconds: int = setting(900, "Lifetime of an access token.", min=30)
    refresh_token_ttl_seconds: int = setting(
        30 * 86400, "Lifetime of a refresh token (sliding with each rotation).", min=60
    )
    bcrypt_rounds: int = setting(12, "bcrypt cost; production requires 12 or more.", min=4, max=16)


@dataclass(frozen=True)
class BootstrapSettings:
    email: str = setting("", "Email of the owner created on first start.")
    password: Secret = setting(  # noqa: RUF009 (Secret is an immutable str)
        Secret(""), "That owner's password (else one is generated)."
    )


@dataclass(frozen=True)
class LimitsSettings:
    sockets_per_ip: int = setting(
        20, "Concurrent WebSockets and waiting long-polls per client IP (0 = unlimited).", min=0
    )
    sessions_per_minute_per_ip: int = setting(
        30, "Widget sessions started per minute per IP (0 = unlimited).", min=0
    )
    messages_per_minute_per_visitor: int = setting(
        30, "Messages a visitor may send per minute (0 = unlimited).", min=0
    )
    messages_per_minute_per_ip: int = setting(
        120, "Messages per minute from one IP (0 = unlimited).", min=0
    )
    logins_per_minute_per_ip: int = setting(
        10, "Failed sign-ins per minute per IP before it must wait (0 = unlimited).", min=0
    )
    connections_per_ip: int = setting(
        64,
        "Open HTTP connections per client IP, trusted proxies exempt (0 = unlimited).",
        min=0,
    )


@dataclass(frozen=True)
class BackupSettings:
    interval_hours: float = setting(
        6.0, "Hours between scheduled backups; fractions allowed (0 = off).", min=0
    )
    keep: int = setting(14, "How many scheduled backups to keep, newest first.", min=1)
    dir: str = setting("", "Where backups go (empty: backups/ in the data dir).")


@dataclass(frozen=True)
class EventsSettings:
    retention_hours: int = setting(
        72, "Hours agents can resume from; older events are deleted (newest kept).", min=1
    )


@dataclass(frozen=True)
class MetricsSettings:
    allow: list[str] = setting(  # noqa: RUF009 (setting() gives a list a default_factory)
        ["127.0.0.1", "::1"],
        "Client addresses or networks (CIDR) that may read /metrics; others get 403.",
        networks=True,
    )
    token: Secret = setting(  # noqa: RUF009 (Secret is an immutable str)
        Secret(""), "Bearer token that may read /metrics from any address (empty: none)."
    )


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str = setting("", "Twilio account SID (AC...); empty turns SMS and WhatsApp off.")
    auth_token: Secret = setting(  # noqa: RUF009 (Secret is an immutable str)
        Secret(""), "Twilio auth token: checks webhook signatures and authenticates API calls."
    )
    public_base_url: str = setting(
        "", "Base URL Twilio calls, as the internet sees it (https://chat.example.org)."
    )
    api_base_url: str = setting("https://api.twilio.com", "Twilio REST API base URL.")
    media_url_ttl_seconds: int = setting(
        604800,
        "How long the signed link of a file sent by SMS/WhatsApp lasts (Twilio fetches it).",
        min=3600,
    )
    request_timeout_seconds: float = setting(10.0, "Timeout of one Twilio API call.", min=0.1)
    retry_base_seconds: float = setting(
        2.0, "First retry delay after a provider failure; doubles each attempt, jittered.", min=0.01
    )
    retry_max_seconds: float = setting(300.0, "Longest delay between two attempts.", min=0.01)
    give_up_after_seconds: int = setting(
        86400, "A text still unsent this long after it was written is marked failed.", min=1
    )
    unknown_outcome_grace_seconds: float = setting(
        60.0, "After a crash or timeout mid-call, wait this long for Twilio's callback.", min=0
    )
    circuit_failures: int = setting(5, "Consecutive provider failures that pause sending.", min=1)
    circuit_pause_seconds: float = setting(
        30.0, "How long sending pauses before one trial send.", min=0.01
    )
    per_number_per_minute: int = setting(
        20, "Texts sent to one phone number per minute (0 = unlimited); more wait.", min=0
    )


@dataclass(frozen=True)
class EgressSettings:
    allow_hosts: list[str] = setting(  # noqa: RUF009 (a field with a default factory)
        [],
        "Internal hosts, addresses or networks (CIDR) that alerts, outgoing webhooks and push"
        " services may still reach.",
    )


@dataclass(frozen=True)
class EmailSettings:
    smtp_host: str = setting("", "SMTP server that sends Omnichat's mail; empty turns email off.")
    smtp_port: int = setting(587, "SMTP port (587 for starttls, 465 for tls).", min=1, max=65535)
    smtp_username: str = setting("", "SMTP user name (empty: no authentication).")
    smtp_password: Secret = setting(  # noqa: RUF009 (Secret is an immutable str)
        Secret(""), "SMTP password."
    )
    smtp_tls: str = setting(
        "starttls",
        "starttls (upgrade after connecting), tls (TLS from the start) or none.",
        choices=("starttls", "tls", "none"),
    )
    from_address: str = setting("", "The From address of every mail (chat@example.org).")
    timeout_seconds: float = setting(15.0, "Timeout of one SMTP conversation.", min=0.1)
    visitor_batch_seconds: float = setting(
        300.0,
        "Staff replies to a visitor who left are mailed at most once per conversation this often.",
        min=0.1,
    )


@dataclass(frozen=True)
class NotifySettings:
    retry_base_seconds: float = setting(
        5.0, "First retry delay of a mail or push; doubles each attempt, jittered.", min=0.01
    )
    retry_max_seconds: float = setting(1800.0, "Longest delay between two attempts.", min=0.01)
    give_up_after_seconds: int = setting(
        172800, "A mail or push still unsent this long after it was queued is marked failed.", min=1
    )
    push_timeout_seconds: float = setting(10.0, "Timeout of one call to a push service.", min=0.1)


@dataclass(frozen=True)
class WebhooksSettings:
    timeout_seconds: float = setting(5.0, "Timeout of one webhook delivery.", min=0.1)
    retry_base_seconds: float = setting(
        10.0, "First retry delay after a failed delivery; doubles each attempt, jittered.", min=0.01
    )
    retry_max_seconds: float = setting(3600.0, "Longest delay between two attempts.", min=0.01)
    give_up_after_seconds: int = setting(
        86400, "A delivery still failing this long after it was queued is marked failed.", min=1
    )
    circuit_failures: int = setting(
        5, "Consecutive failures of one webhook that pause its deliveries.", min=1
    )
    circuit_pause_seconds: float = setting(
        60.0, "How long a webhook's deliveries pause before one trial delivery.", min=0.01
    )


@dataclass(frozen=True)
class AlertsSettings:
    min_interval_seconds: float = setting(
        300.0,
        "Least time between two alerts of one site; events meanwhile go out as one summary.",
        min=0,
    )


@dataclass(frozen=True)
class SitesSettings:
    default_country: str = setting(
        "",
        "ISO 3166 country (US, GB...) phone numbers typed without +code are read in, for sites"
        " that set none; empty: only international numbers.",
        choices=("", *sorted(COUNTRIES)),
    )


@dataclass(frozen=True)
class AttachmentsSettings:
    max_bytes: int = setting(10485760, "Largest file a visitor or staff member may upload.", min=1)
    allowed_types: list[str] = setting(  # noqa: RUF009 (a field with a default factory)
        ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"],
        "Types (sniffed from the bytes) accepted; SVG, HTML and programs are always refused.",
    )
    retention_days: int = setting(
        0, "Days a file is kept; older files are deleted, their messages say so (0 = keep).", min=0
    )
    url_ttl_seconds: int = setting(
        86400, "How long a signed file link lasts (clients read fresh ones over HTTP).", min=60
    )
    uploads_per_minute_per_visitor: int = setting(
        10, "Uploads one visitor may make per minute (0 = unlimited).", min=0
    )
    daily_bytes_per_visitor: int = setting(
        104857600, "Bytes one visitor may upload per day (0 = unlimited).", min=0
    )


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    hub: HubSettings = field(default_factory=HubSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    backup: BackupSettings = field(default_factory=BackupSettings)
    events: EventsSettings = field(default_factory=EventsSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    egress: EgressSettings = field(default_factory=EgressSettings)
    alerts: AlertsSettings = field(default_factory=AlertsSettings)
    sites: SitesSettings = field(default_factory=SitesSettings)
    webhooks: WebhooksSettings = field(default_factory=WebhooksSettings)
    attachments: AttachmentsSettings = field(default_factory=AttachmentsSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)

    @property
    def production(self) -> bool:
        return self.server.env == "production"

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.data_dir)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "omnichat.sqlite"

    @property
    def public_url(self) -> str:
        """Where people reach the server (links in mail), without a trailing slash."""
        return (self.server.public_url or self.twilio.public_base_url).strip().rstrip("/")


def _sections() -> dict[str, type]:
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings)}


def _convert(name: str, kind: Any, value: Any, from_env: bool) -> Any:
    if kind is bool:
        if from_env and isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if from_env and isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        if isinstance(value, bool):
            return value
    elif kind is int:
        if from_env and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if from_env and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        elif isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind in (str, Secret):
        if isinstance(value, str):
            return kind(value)
    elif typing.get_origin(kind) is list:
        if from_env and isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
    raise SettingsError(f"setting {name}: expected {_type_name(kind)}, got {value!r:.60}")


def _type_name(kind: Any) -> str:
    if isinstance(kind, types.GenericAlias):
        return "a list of strings"
    return {bool: "true or false", int: "an integer", float: "a number"}.get(kind, "a string")


def _check(name: str, value: Any, meta: typing.Mapping[str, Any]) -> None:
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise SettingsError(f"setting {name}: must be one of {', '.join(choices)}, got {value!r}")
    if "min" in meta and value < meta["min"]:
        raise SettingsError(f"setting {name}: must be at least {meta['min']}, got {value}")
    if "max" in meta and value > meta["max"]:
        raise SettingsError(f"setting {name}: must be at most {meta['max']}, got {value}")
    for item in value if meta.get("networks") else ():
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise SettingsError(
                f"setting {name}: {item!r:.60} is not an IP address or network (CIDR)"
            ) from None


def read_config(path: Path | None) -> dict[str, Any]:
    """Read a TOML settings file; no path means no file."""
    if path is None:
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise SettingsError(f"config file {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None


def build_settings(config: dict[str, Any], environ: typing.Mapping[str, str]) -> Settings:
    """Merge file values and environment overrides into validated settings."""
    sections = _sections()
    values: dict[str, dict[str, Any]] = {name: {} for name in sections}
    for section, table in config.items():
        if section not in sections:
            raise SettingsError(f"unknown settings section [{section}]")
        if not isinstance(table, dict):
            raise SettingsError(f"settings section [{section}] must be a table")
        for key, value in table.items():
            values[section][key] = (value, False)
    known_env = {CONFIG_ENV}
    for section, cls in sections.items():
        for f in dataclasses.fields(cls):
            env_name = f"{ENV_PREFIX}{section}_{f.name}".upper()
            known_env.add(env_name)
            if env_name in environ:
                values[section][f.name] = (environ[env_name], True)
    for env_name in environ:
        if env_name.startswith(ENV_PREFIX) and env_name not in known_env:
            raise SettingsError(f"unknown setting in environment: {env_name}")

    built: dict[str, Any] = {}
    for section, cls in sections.items():
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, (raw, from_env) in values[section].items():
            name = f"{section}.{key}"
            if key not in fields:
                raise SettingsError(f"unknown setting {name}")
            value = _convert(name, hints[key], raw, from_env)
            _check(name, value, fields[key].metadata)
            kwargs[key] = value
        built[section] = cls(**kwargs)
    settings = Settings(**built)
    _check_engines(settings)
    _check_production(settings)
    return settings


def _check_engines(settings: Settings) -> None:
    database = settings.storage.database_url
    if database and not database.startswith(("postgresql://", "postgres://")):
        raise SettingsError(
            "setting storage.database_url: must be empty (SQLite) or postgresql://USER:PASS@HOST/DB"
        )
    redis = settings.hub.redis_url
    if redis and not redis.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError("setting hub.redis_url: must be empty or redis://HOST:PORT/N")
    if redis and not database:
        # Processes sharing live frames but not the data would each hold half the truth.
        raise SettingsError("setting hub.redis_url: needs storage.database_url (PostgreSQL) too")


def secret_key_weakness(key: str) -> str | None:
    """Why `key` is too weak to sign production tokens, or None when it looks random enough.

    Cheap estimates, not proof: a key that passes may still have been made up, but the keys
    people type or paste (repeated characters, patterns, words) are refused. The reason never
    quotes the key.
    """
    if len(key.encode()) < MIN_SECRET_BYTES:
        return f"it must be at least {MIN_SECRET_BYTES} bytes"
    if len(set(key)) < MIN_SECRET_DISTINCT:
        return f"it uses only {len(set(key))} different characters"
    chunks = collections.Counter(
        key[i : i + REPEAT_CHUNK] for i in range(len(key) - REPEAT_CHUNK + 1)
    )
    if chunks.most_common(1)[0][1] >= REPEAT_TIMES:
        return "it repeats a pattern"
    lowered = key.lower()
    for word in WEAK_SECRET_WORDS:
        if word in lowered:
            return f"it contains {word!r}"
    bits = _estimated_bits(key)
    if bits < MIN_SECRET_BITS:
        return f"it holds too little randomness (about {bits:.0f} bits, {MIN_SECRET_BITS} needed)"
    return None


def _estimated_bits(key: str) -> float:
    """Length times the Shannon entropy of the key's own character frequencies."""
    counts = collections.Counter(key)
    return -sum(n * math.log2(n / len(key)) for n in counts.values())


def _check_production(settings: Settings) -> None:
    if not settings.production:
        return
    key = settings.security.secret_key
    if key.strip().lower() in PLACEHOLDER_SECRETS:
        raise SettingsError(
            "setting security.secret_key: production needs a secret key "
            f"(OMNICHAT_SECURITY_SECRET_KEY, 32+ random bytes); generate one with: {GENERATE_KEY}"
        )
    weakness = secret_key_weakness(key)
    if weakness is not None:
        raise SettingsError(
            f"setting security.secret_key: too weak for production ({weakness}); "
            f"generate a random one with: {GENERATE_KEY}"
        )
    if settings.security.bcrypt_rounds < 12:
        raise SettingsError("setting security.bcrypt_rounds: production needs 12 or more")


def production_warnings(settings: Settings) -> list[str]:
    """What production accepts but the operator should know (`check` prints, `serve` logs)."""
    if not settings.production:
        return []
    proxies = settings.server.forwarded_allow_ips.strip()
    if proxies == "*":
        return [
            "server.forwarded_allow_ips is '*': any client can claim any address with "
            "X-Forwarded-For, past per-address limits, sign-in throttling and metrics.allow; "
            "list only your reverse proxies"
        ]
    if proxies == DEFAULT_PROXIES:
        return [
            f"server.forwarded_allow_ips is the default ({DEFAULT_PROXIES}): any process on "
            "this host may claim any client address with X-Forwarded-For; that is right only "
            "when your reverse proxy runs here and no untrusted local user can reach the port. "
            "List your proxies' addresses otherwise"
        ]
    return []


def load_settings(config_path: str | None, environ: typing.Mapping[str, str]) -> Settings:
    """Load settings from the file named by `--config`, `OMNICHAT_CONFIG` or ./settings.toml."""
    path = config_path or environ.get(CONFIG_ENV)
    if path:
        return build_settings(read_config(Path(path)), environ)
    default = Path("settings.toml")
    return build_settings(read_config(default if default.exists() else None), environ)


def with_secret_key(settings: Settings, key: str) -> Settings:
    """Return settings whose secret key is `key` (used for the development key file)."""
    security = dataclasses.replace(settings.security, secret_key=Secret(key))
    return dataclasses.replace(settings, security=security)


def generate_secret_key() -> str:
    return secrets.token_urlsafe(48)


def describe() -> list[tuple[str, str, Any, str]]:
    """Every setting as (section, key, default, help): what settings.toml and the README list."""
    rows = []
    for section, cls in _sections().items():
        for f in dataclasses.fields(cls):
            default = (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            )
            rows.append((section, f.name, default, f.metadata["help"]))
    return rows
