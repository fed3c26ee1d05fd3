"""`python run.py [command]`: serve, migrate, create-user, check, backup, restore, copy-data.

Every failure a user can cause ends with one line on stderr and a non-zero exit, never a
traceback wall.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import asyncpg

from omnichat import emails, logs, shared, workers
from omnichat.accounts import passwords, staff, users
from omnichat.errors import Invalid, StartupError
from omnichat.notify import mail
from omnichat.settings import Settings, SettingsError, load_settings, production_warnings
from omnichat.storage import backups, bootstrap, datadir, pg_dump
from omnichat.storage.restore import lock_data_dir, restore_file
from omnichat.twilio import sender

log = logging.getLogger("omnichat.cli")
OWNER_ONLY_UMASK = 0o077
# The highest first, as the help shows them.
ROLES = tuple(reversed(staff.ROLES))


def fail(message: str) -> int:
    print(f"omnichat: error: {message}", file=sys.stderr)
    return 1


def warnings(settings: Settings) -> list[str]:
    """What the operator should fix though Omnichat can run: logged by `serve`, shown by `check`."""
    found = [datadir.open_dir_warning(settings.data_dir), *production_warnings(settings)]
    return [warning for warning in found if warning]


def serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from omnichat.metrics import Metrics
    from omnichat.web.app import create_app
    from omnichat.web.connections import ConnectionCounts, TrustedProxies, fit_to_fd_limit
    from omnichat.web.protocols import MAX_HEAD_BYTES, Deadlines, protocol_classes

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # uvicorn waits for open requests before the app's lifespan hears of the shutdown;
            # tell sockets and long-polls to finish now, so a restart is not held up by them.
            hub.close_all()
            await super().shutdown(sockets)

    console = logs.console_wanted(settings.server.log_format, settings.production)
    logs.configure(settings.server.log_level, console)
    on_postgresql = bool(settings.storage.database_url)
    if args.workers > 1 and not (on_postgresql and settings.hub.redis_url):
        return fail("serve --workers needs storage.database_url and hub.redis_url (scaling.md)")
    # Fail here, with one line, rather than inside uvicorn's lifespan with a traceback. On
    # PostgreSQL the data dir holds only keys and backups, and many processes share it.
    lock = None if on_postgresql else lock_data_dir(settings.data_dir)
    try:
        settings = datadir.prepare(settings)
    finally:
        if lock is not None:
            lock.close()
    for warning in warnings(settings):
        log.warning(warning)
    if args.workers > 1:
        # Each child would otherwise find out alone, after its connect timeout, and be restarted.
        hub_check(str(settings.hub.redis_url))
        argv = [*(["--config", args.config] if args.config else []), "serve"]
        return workers.supervise(args.workers, settings.server.host, settings.server.port, argv)
    hub = shared.make_hub(settings)
    metrics = Metrics()
    counts = ConnectionCounts(
        fit_to_fd_limit(settings.server.max_connections),
        settings.limits.connections_per_ip,
        TrustedProxies(settings.server.forwarded_allow_ips),
        metrics,
    )
    deadlines = Deadlines(
        settings.server.header_timeout_seconds, settings.server.body_timeout_seconds
    )
    http_protocol, ws_protocol = protocol_classes(counts, deadlines)
    config = uvicorn.Config(
        create_app(settings, hub, metrics),
        host=settings.server.host,
        port=settings.server.port,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.server.forwarded_allow_ips,
        # h11 (not httptools, which buffered a single 300 MB header) with the deadlines, head size
        # limit and connection caps uvicorn lacks (omnichat.web.protocols).
        http=http_protocol,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_keep_alive=settings.server.keepalive_seconds,  # type: ignore[arg-type]
        # websockets-sansio, chosen for thousands of mostly idle sockets: compression would cost
        # ~90 KB each, chat frames are small, and a ping finds dead peers that never said goodbye.
        ws=ws_protocol,
        ws_per_message_deflate=False,
        ws_max_size=64 * 1024,
        ws_ping_interval=settings.server.ws_ping_interval_seconds,
        ws_ping_timeout=settings.server.ws_ping_interval_seconds,
        timeout_graceful_shutdown=10,
    )
    server = Server(config)
    inherited = workers.inherited_socket()
    server.run(sockets=None if inherited is None else [inherited])
    return 0 if server.started else 1


def migrate(settings: Settings, args: argparse.Namespace) -> int:
    datadir.ensure_data_dir(settings.data_dir)
    connection = datadir.open_connection(settings)
    try:
        if args.status:
            state = datadir.migration_status(connection)
            for version, name, applied_at in state.applied:
                print(f"applied  {version:04d}_{name}  {applied_at}")
            for migration in state.pending:
                print(f"pending  {migration.version:04d}_{migration.name}")
            return 0
        applied = datadir.apply_migrations(connection)
    finally:
        connection.close()
    for migration in applied:
        print(f"applied  {migration.version:04d}_{migration.name}")
    if not applied:
        print("database is up to date")
    return 0


def create_user(settings: Settings, args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        must_change = False
    else:
        password = passwords.generate_password()
        must_change = True
    # The same rules as accounts made over the API.
    try:
        passwords.check_rules(password)
        email = emails.parse_email(args.email)
        name = (
            email.split("@")[0][: users.MAX_NAME]
            if args.name is None
            else users.parse_name(args.name)
        )
    except Invalid as exc:
        return fail(exc.message)
    settings = datadir.prepare(settings)
    password_hash = passwords.hash_password_sync(password, settings.security.bcrypt_rounds)
    connection = datadir.open_connection(settings)
    try:
        bootstrap.create_user(
            connection,
            args.tenant,
            email,
            name,
            args.role,
            password_hash,
            must_change,
        )
    except (sqlite3.IntegrityError, asyncpg.UniqueViolationError):
        return fail(f"a user with the email {email} already exists in tenant {args.tenant}")
    finally:
        connection.close()
    print(f"created {args.role} {email} in tenant {args.tenant}")
    if must_change:
        print(f"password: {password}  (shown once; it must be changed at first login)")
    return 0


def check(settings: Settings, args: argparse.Namespace) -> int:
    datadir.ensure_data_dir(settings.data_dir)
    connection = datadir.open_connection(settings)
    try:
        pending = datadir.migration_status(connection).pending
        if settings.production:
            # What `serve` would refuse, so that `check` passing means the server starts.
            datadir.refuse_open_origins(connection)
    finally:
        connection.close()
    texts = sender.describe(settings.twilio)
    email = mail.describe(settings)
    for warning in warnings(settings):
        print(f"omnichat: warning: {warning}", file=sys.stderr)
    where = "PostgreSQL" if settings.storage.database_url else str(settings.data_dir)
    print(f"settings ok ({settings.server.env}), data in {where}")
    if settings.hub.redis_url:
        print(hub_check(str(settings.hub.redis_url)))
    print(texts)
    print(email)
    if pending:
        print(f"{len(pending)} migration(s) pending; they are applied at start-up")
    return 0


def copy_data(settings: Settings, args: argparse.Namespace) -> int:
    from omnichat.storage.copy_data import copy

    if not args.to.startswith(("postgresql://", "postgres://")):
        return fail("copy-data --to takes a postgresql://USER:PASS@HOST:PORT/DB address")
    if not settings.database_path.exists():
        return fail(f"no SQLite database at {settings.database_path} to copy")
    # The server must be stopped: rows written during the copy would be left behind.
    with contextlib.closing(lock_data_dir(settings.data_dir)):
        try:
            asyncio.run(copy(settings.database_path, args.to, print))
        except (OSError, asyncpg.PostgresError) as exc:
            return fail(f"copy-data failed (the target is unchanged): {exc}")
    print("set storage.database_url to this address and start the server")
    return 0


def hub_check(url: str) -> str:
    """Whether the Redis of `hub.redis_url` answers (`check` fails with one line if not)."""
    import redis.asyncio

    async def ping() -> None:
        client = redis.asyncio.from_url(url, socket_connect_timeout=5)
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        asyncio.run(ping())
    except (OSError, redis.RedisError) as exc:
        raise StartupError(f"hub.redis_url: Redis cannot be reached: {exc}") from None
    return "live frames shared through Redis"


def backup(settings: Settings, args: argparse.Namespace) -> int:
    database = backups.source(settings)
    target = None if args.path is None else Path(args.path)
    try:
        if target is None:
            made = backups.take_backup(database, backups.backup_dir(settings), settings.backup.keep)
        elif target.is_dir():
            made = backups.take_backup(database, target, keep=None)
        else:
            made = backups.write_backup(database, target)
    except (backups.BackupError, OSError) as exc:
        return fail(f"backup failed: {exc}")
    checked = "pg_restore --list ok" if settings.storage.database_url else "integrity_check ok"
    print(f"backup written to {made.path} ({made.size} bytes, {checked})")
    return 0


def restore(settings: Settings, args: argparse.Namespace) -> int:
    if settings.storage.database_url:
        # Stop every server first: pg_restore replaces the tables under them.
        try:
            pg_dump.restore(str(settings.storage.database_url), Path(args.path))
        except OSError as exc:
            return fail(f"restore failed (the database is unchanged): {exc}")
        print(f"restored PostgreSQL from {args.path}")
        print("start the servers; migrations newer than the backup are applied at start-up")
        return 0
    try:
        aside = restore_file(Path(args.path), settings.data_dir, settings.database_path)
    except (backups.BackupError, OSError) as exc:
        return fail(f"restore failed: {exc}")
    print(f"restored {settings.database_path} from {args.path}")
    if aside is not None:
        print(f"the previous database is kept as {aside}")
    print("start the server; migrations newer than the backup are applied at start-up")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="omnichat", description="Omnichat: self-hosted live chat and human handoff."
    )
    root.add_argument(
        "--config", help="settings file (default: $OMNICHAT_CONFIG or ./settings.toml)"
    )
    commands = root.add_subparsers(dest="command", metavar="command")
    sub = commands.add_parser("serve", help="run the server (the default)")
    sub.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="N processes on one port (needs PostgreSQL and Redis: storage.database_url, "
        "hub.redis_url)",
    )
    sub = commands.add_parser("migrate", help="apply pending database migrations")
    sub.add_argument("--status", action="store_true", help="list applied and pending migrations")
    sub = commands.add_parser("create-user", help="create a staff account")
    sub.add_argument("email")
    sub.add_argument("--role", choices=ROLES, required=True)
    sub.add_argument("--tenant", default="default", help="tenant slug; created when missing")
    sub.add_argument("--name", help="display name (default: the part before @)")
    sub.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (else one is generated and printed)",
    )
    commands.add_parser("check", help="validate the configuration and database, then exit")
    sub = commands.add_parser(
        "copy-data", help="copy this (stopped) SQLite installation into an empty PostgreSQL"
    )
    sub.add_argument("--to", required=True, metavar="URL", help="postgresql://USER:PASS@HOST/DB")
    sub = commands.add_parser(
        "backup", help="write a checked online backup (safe while the server runs)"
    )
    sub.add_argument(
        "path",
        nargs="?",
        help="a new file, or a directory for a dated file (default: the backups dir, "
        "keeping the newest backup.keep)",
    )
    sub = commands.add_parser(
        "restore", help="replace the database with a backup (stop the server first)"
    )
    sub.add_argument("path", help="the backup file; the current database is kept aside")
    return root


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "serve": serve,
    "migrate": migrate,
    "create-user": create_user,
    "check": check,
    "backup": backup,
    "restore": restore,
    "copy-data": copy_data,
}


def main(argv: Sequence[str] | None = None) -> int:
    # Whatever we create (database, -wal/-shm, keys, lock, backups, dirs) is for our owner only,
    # whatever umask the shell or service manager gave us; files also get explicit modes.
    os.umask(OWNER_ONLY_UMASK)
    args = parser().parse_args(argv)
    try:
        # The socket a `--workers` parent passes is not a setting (settings refuse unknown
        # OMNICHAT_ variables); `serve` picks it up.
        environ = {k: v for k, v in os.environ.items() if k != workers.LISTEN_FD_ENV}
        settings = load_settings(args.config, environ)
        if args.command is None:
            args.workers = 1
        return COMMANDS[args.command or "serve"](settings, args)
    except (SettingsError, StartupError) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130
