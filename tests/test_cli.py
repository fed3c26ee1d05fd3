"""The command line: help, migrations status, create-user, check, and one-line start-up errors."""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import OWNER_EMAIL, ServerProcess, server_env
from tests.servers import run_cli as run


@pytest.mark.parametrize("command", [[], ["serve"], ["migrate"], ["create-user"], ["check"]])
def test_every_command_has_help(command: list[str], tmp_path: Path) -> None:
    """`--help` works for the program and each subcommand."""
    result = run(*command, "--help", env=server_env(tmp_path))
    assert result.returncode == 0
    assert "usage:" in result.stdout


def test_the_omnichat_command_is_run_py(tmp_path: Path) -> None:
    """Installing the package puts an `omnichat` command on the PATH that runs the same program
    as `python run.py`."""
    command = shutil.which("omnichat", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    assert command, "pip install -e . installs the omnichat command"
    env = {**os.environ, **server_env(tmp_path / "data")}
    result = subprocess.run(
        [command, "migrate", "--status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "pending  0001_core_schema" in result.stdout
    assert result.stdout == run("migrate", "--status", env=env).stdout


def test_migrate_status_lists_applied_and_pending(tmp_path: Path) -> None:
    """Before `migrate` everything is pending; after it everything is applied."""
    env = server_env(tmp_path / "data")
    before = run("migrate", "--status", env=env)
    assert before.returncode == 0 and "pending  0001_core_schema" in before.stdout
    assert run("migrate", env=env).returncode == 0
    after = run("migrate", "--status", env=env)
    assert "applied  0001_core_schema" in after.stdout and "pending" not in after.stdout


def test_new_data_dir_is_private_to_its_owner(tmp_path: Path) -> None:
    """A data dir the server creates is readable by its owner only, database and all."""
    assert run("migrate", env=server_env(tmp_path / "data")).returncode == 0
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700


def test_create_user_with_password_on_stdin(tmp_path: Path) -> None:
    """create-user makes the tenant when missing; a second user with that email in the same
    tenant is refused, in another tenant it is a separate account."""
    env = server_env(tmp_path / "data")
    result = run(
        "create-user",
        "agent@acme.test",
        "--role",
        "agent",
        "--tenant",
        "acme",
        "--password-stdin",
        env=env,
        stdin="a-long-password-1\n",
    )
    assert result.returncode == 0, result.stderr
    again = run(
        "create-user",
        "AGENT@acme.test",
        "--role",
        "admin",
        "--tenant",
        "acme",
        "--password-stdin",
        env=env,
        stdin="a-long-password-1\n",
    )
    assert again.returncode == 1 and "already exists in tenant acme" in again.stderr
    elsewhere = run(
        "create-user",
        "AGENT@acme.test",
        "--role",
        "admin",
        "--password-stdin",
        env=env,
        stdin="a-long-password-2\n",
    )
    assert elsewhere.returncode == 0, elsewhere.stderr
    weak = run(
        "create-user",
        "new@acme.test",
        "--role",
        "agent",
        "--password-stdin",
        env=env,
        stdin="password\n",
    )
    assert weak.returncode == 1 and "password" in weak.stderr
    db = sqlite3.connect(tmp_path / "data" / "omnichat.sqlite")
    rows = db.execute(
        "SELECT u.email, u.role, t.slug, u.must_change_password FROM users u"
        " JOIN tenants t ON t.id = u.tenant_id ORDER BY u.id"
    ).fetchall()
    assert rows == [
        (OWNER_EMAIL, "owner", "default", 0),
        ("agent@acme.test", "agent", "acme", 0),
        ("AGENT@acme.test", "admin", "default", 0),
    ]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["not an@email.test"], "email: must be an email address"),
        (["ok@acme.test", "--name", " "], "name:"),
    ],
)
def test_create_user_applies_the_api_account_rules(
    args: list[str], needle: str, tmp_path: Path
) -> None:
    """create-user refuses an email or a name the users API would refuse, in one line."""
    _one_line_failure(
        run("create-user", *args, "--role", "agent", env=server_env(tmp_path / "data")), needle
    )


def test_check_passes_on_good_settings(tmp_path: Path) -> None:
    """`check` validates the configuration and exits 0."""
    result = run("check", env=server_env(tmp_path / "data"))
    assert result.returncode == 0 and "settings ok" in result.stdout


def test_check_warns_about_the_default_trusted_proxy(tmp_path: Path) -> None:
    """In production `check` passes but warns that 127.0.0.1 may claim any client address."""
    production = {
        "OMNICHAT_SERVER_ENV": "production",
        "OMNICHAT_SECURITY_SECRET_KEY": secrets.token_urlsafe(48),
        "OMNICHAT_SECURITY_BCRYPT_ROUNDS": "12",
    }
    result = run("check", env=server_env(tmp_path / "data", **production))
    assert result.returncode == 0, result.stderr
    assert "warning: server.forwarded_allow_ips is the default" in result.stderr
    listed = server_env(
        tmp_path / "data", **production, OMNICHAT_SERVER_FORWARDED_ALLOW_IPS="10.0.0.5"
    )
    assert "forwarded_allow_ips" not in run("check", env=listed).stderr


def _one_line_failure(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_setting_fails_in_one_line(tmp_path: Path) -> None:
    """An unknown key in the config file stops start-up with one line naming it."""
    config = tmp_path / "settings.toml"
    config.write_text("[server]\nprot = 80\n")
    env = server_env(tmp_path / "data", OMNICHAT_CONFIG=str(config))
    _one_line_failure(run("serve", env=env), "server.prot")
    _one_line_failure(run("check", env=env), "server.prot")


def test_wrong_type_in_environment_fails_in_one_line(tmp_path: Path) -> None:
    """A wrong type in an environment override names the key."""
    env = server_env(tmp_path / "data", OMNICHAT_SERVER_PORT="eighty")
    _one_line_failure(run("check", env=env), "server.port")


def test_unwritable_data_dir_fails_in_one_line(tmp_path: Path) -> None:
    """A data dir that cannot be created or written stops start-up with one line."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = server_env(blocker / "data")
    _one_line_failure(run("serve", env=env), "not writable")


def test_non_sqlite_database_fails_in_one_line(tmp_path: Path) -> None:
    """A database file that is not SQLite is refused without touching it."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "omnichat.sqlite").write_bytes(b"this is not a database" * 100)
    _one_line_failure(run("serve", env=server_env(data)), "cannot be used")
    assert (data / "omnichat.sqlite").read_bytes() == b"this is not a database" * 100


def test_bad_bootstrap_email_fails_in_one_line(tmp_path: Path) -> None:
    """A first start refuses a bootstrap email that is not an email address, naming the setting."""
    env = server_env(tmp_path / "data", OMNICHAT_BOOTSTRAP_EMAIL="owner")
    result = run("serve", env=env)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "omnichat: error: setting bootstrap.email: must be an email address"
    )


@pytest.mark.parametrize("key", ["short", "a" * 44, "changeme-changeme-changeme-changeme-1234"])
def test_production_refuses_weak_key_in_one_line(key: str, tmp_path: Path) -> None:
    """Production with a weak secret key (the audit's two got past `check`) exits non-zero
    before serving, saying how to generate a good one."""
    env = server_env(
        tmp_path / "data",
        OMNICHAT_SERVER_ENV="production",
        OMNICHAT_SECURITY_SECRET_KEY=key,
        OMNICHAT_SECURITY_BCRYPT_ROUNDS="12",
    )
    _one_line_failure(run("check", env=env), "secrets.token_urlsafe(48)")
    _one_line_failure(run("serve", env=env), "secret_key")


def test_production_refuses_open_origin(start_server) -> None:  # type: ignore[no-untyped-def]
    """A site allowing origin '*' stops a production start, and `check` says so too."""
    process: ServerProcess = start_server()
    process.stop()
    db = sqlite3.connect(process.database_path)
    db.execute("UPDATE sites SET allowed_origins = '[\"*\"]'")
    db.commit()
    production = {
        **process.env,
        "OMNICHAT_SERVER_ENV": "production",
        "OMNICHAT_SECURITY_SECRET_KEY": secrets.token_urlsafe(48),
        "OMNICHAT_SECURITY_BCRYPT_ROUNDS": "12",
    }
    _one_line_failure(run("check", env=production), "allows origin '*'")
    _one_line_failure(run("serve", env=production), "allows origin '*'")


def test_bootstrap_prints_generated_password_once(start_server) -> None:  # type: ignore[no-untyped-def]
    """Without bootstrap settings exactly one owner is made, its password printed to the
    terminal (not the log); restarting makes no second owner."""
    process: ServerProcess = start_server(
        OMNICHAT_BOOTSTRAP_EMAIL="", OMNICHAT_BOOTSTRAP_PASSWORD=""
    )
    printed = process.stdout()
    assert "owner@example.com" in printed
    password = printed.split("the password ")[1].split()[0]
    assert password not in process.logs()
    process.restart()
    assert process.stdout().count("the password") == 1
    db = sqlite3.connect(process.database_path)
    owners = db.execute("SELECT email, must_change_password FROM users").fetchall()
    assert owners == [("owner@example.com", 1)]
    assert db.execute("SELECT COUNT(*) FROM tenants").fetchone() == (1,)
    assert process.http.get("/health/ready").status_code == 200


def test_restart_is_idempotent_on_migrations(start_server) -> None:  # type: ignore[no-untyped-def]
    """A restart applies nothing new and keeps one record per migration."""
    process: ServerProcess = start_server()
    process.restart()
    db = sqlite3.connect(process.database_path)
    versions = [row[0] for row in db.execute("SELECT version FROM schema_migrations")]
    assert versions == sorted(set(versions))
    assert db.execute("SELECT COUNT(*) FROM users WHERE role = 'owner'").fetchone() == (1,)
