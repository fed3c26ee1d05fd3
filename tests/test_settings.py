"""Settings: file values, environment overrides, validation and production refusals."""

from __future__ import annotations

import base64
import os
import secrets
import tomllib
from pathlib import Path

import pytest

from omnichat.settings import (
    Secret,
    SettingsError,
    build_settings,
    describe,
    load_settings,
    production_warnings,
)

ROOT = Path(__file__).resolve().parent.parent
STRONG = secrets.token_urlsafe(48)


def test_defaults_match_contract() -> None:
    """With nothing configured the server listens on 127.0.0.1:8000 with data in ./data."""
    settings = build_settings({}, {})
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8000)
    assert settings.storage.data_dir == "./data"
    assert settings.security.access_token_ttl_seconds == 900
    assert not settings.production


def test_environment_overrides_file() -> None:
    """OMNICHAT_<SECTION>_<KEY> wins over settings.toml, which wins over the default."""
    config = {"server": {"port": 9000, "host": "0.0.0.0"}, "limits": {"sockets_per_ip": 3}}
    settings = build_settings(config, {"OMNICHAT_SERVER_PORT": "9100"})
    assert settings.server.port == 9100
    assert settings.server.host == "0.0.0.0"
    assert settings.limits.sockets_per_ip == 3


@pytest.mark.parametrize(
    ("config", "environ", "names"),
    [
        ({"server": {"prot": 1}}, {}, "server.prot"),
        ({"sever": {}}, {}, "[sever]"),
        ({"server": {"port": "eighty"}}, {}, "server.port"),
        ({"server": {"port": True}}, {}, "server.port"),
        ({}, {"OMNICHAT_SERVER_PORT": "eighty"}, "server.port"),
        ({}, {"OMNICHAT_SERVER_PORT": "70000"}, "server.port"),
        ({}, {"OMNICHAT_SERVER_ENV": "staging"}, "server.env"),
        ({}, {"OMNICHAT_SERVER_PROT": "1"}, "OMNICHAT_SERVER_PROT"),
        ({}, {"OMNICHAT_LIMITS_SOCKETS_PER_IP": "-1"}, "limits.sockets_per_ip"),
        ({"metrics": {"allow": ["10.0.0.0/8", "local"]}}, {}, "metrics.allow"),
        ({}, {"OMNICHAT_METRICS_ALLOW": "300.1.1.1"}, "metrics.allow"),
    ],
)
def test_bad_values_name_the_key(config: dict, environ: dict, names: str) -> None:
    """Unknown keys, wrong types and out-of-range values fail with a line naming the key."""
    with pytest.raises(SettingsError) as info:
        build_settings(config, environ)
    assert names in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("key", "reason"),
    [("", "needs a secret key"), ("short-key", "at least 32 bytes"), ("changeme", "secret key")],
)
def test_production_refuses_weak_secret(key: str, reason: str) -> None:
    """Production refuses a missing, short or placeholder secret key."""
    environ = {"OMNICHAT_SERVER_ENV": "production", "OMNICHAT_SECURITY_SECRET_KEY": key}
    with pytest.raises(SettingsError, match=reason):
        build_settings({}, environ)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("a" * 44, "only 1 different characters"),
        ("changeme-changeme-changeme-changeme-1234", "repeats a pattern"),
        ("0123456789" * 4, "repeats a pattern"),
        ("my-omnichat-production-secret-key-2026!", "contains 'secret'"),
        ("Zebra-Giraffe-Kangaroo-Default-Monkey-7", "contains 'default'"),
        ("26a35044d9f8eed12fbd8b6f7e3c7d25", "too little randomness"),  # 16 bytes, in hex
    ],
)
def test_production_refuses_low_entropy_secret(key: str, reason: str) -> None:
    """Long but made-up keys (the audit's 44 times `a`, "changeme" four times) are refused with
    the command that generates a good one, and the message never quotes the key."""
    environ = {"OMNICHAT_SERVER_ENV": "production", "OMNICHAT_SECURITY_SECRET_KEY": key}
    with pytest.raises(SettingsError, match=reason) as info:
        build_settings({}, environ)
    assert "secrets.token_urlsafe(48)" in str(info.value)
    assert key not in str(info.value)


def test_generated_keys_pass() -> None:
    """Keys from the usual generators pass, so the rules cost operators nothing."""
    for _ in range(300):
        for key in (
            secrets.token_urlsafe(48),
            secrets.token_urlsafe(32),
            secrets.token_hex(32),
            base64.b64encode(os.urandom(32)).decode(),
        ):
            environ = {"OMNICHAT_SERVER_ENV": "production", "OMNICHAT_SECURITY_SECRET_KEY": key}
            assert build_settings({}, environ).production, key


def test_production_accepts_strong_secret() -> None:
    """A 32+ byte secret key is enough for production."""
    environ = {"OMNICHAT_SERVER_ENV": "production", "OMNICHAT_SECURITY_SECRET_KEY": STRONG}
    assert build_settings({}, environ).production


def test_production_refuses_low_bcrypt_cost() -> None:
    """The test suite's cheap bcrypt cost can never reach production."""
    environ = {
        "OMNICHAT_SERVER_ENV": "production",
        "OMNICHAT_SECURITY_SECRET_KEY": STRONG,
        "OMNICHAT_SECURITY_BCRYPT_ROUNDS": "4",
    }
    with pytest.raises(SettingsError, match="bcrypt_rounds"):
        build_settings({}, environ)


@pytest.mark.parametrize(
    ("proxies", "warned"), [("127.0.0.1", "default"), ("*", "'*'"), ("10.0.0.5", None)]
)
def test_production_warns_about_trusting_local_or_any_proxy(proxies: str, warned: str) -> None:
    """The default trusted proxy lets local processes pose as any client; production says so."""
    environ = {
        "OMNICHAT_SERVER_ENV": "production",
        "OMNICHAT_SECURITY_SECRET_KEY": STRONG,
        "OMNICHAT_SERVER_FORWARDED_ALLOW_IPS": proxies,
    }
    warnings = production_warnings(build_settings({}, environ))
    if warned is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warned in warnings[0] and "forwarded_allow_ips" in warnings[0]
    development = build_settings({}, {"OMNICHAT_SERVER_FORWARDED_ALLOW_IPS": proxies})
    assert production_warnings(development) == []


def test_secrets_hide_in_repr() -> None:
    """Logging the settings object never shows the secret key or bootstrap password."""
    environ = {
        "OMNICHAT_SECURITY_SECRET_KEY": STRONG,
        "OMNICHAT_BOOTSTRAP_PASSWORD": "hunter22",
        "OMNICHAT_METRICS_TOKEN": "scrape-token-1",
    }
    text = repr(build_settings({}, environ))
    assert STRONG not in text and "hunter22" not in text and "scrape-token-1" not in text
    assert isinstance(build_settings({}, environ).security.secret_key, Secret)


def test_unreadable_config_is_one_line(tmp_path: Path) -> None:
    """A config file that is missing or not TOML gives a clear error naming the file."""
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nport = ")
    for path in (str(broken), str(tmp_path / "missing.toml")):
        with pytest.raises(SettingsError, match="config file"):
            load_settings(path, {})


def test_settings_toml_documents_every_key() -> None:
    """The shipped settings.toml lists every setting with its default."""
    shipped = tomllib.loads((ROOT / "settings.toml").read_text())
    for section, key, default, _ in describe():
        assert shipped[section][key] == default, f"{section}.{key}"


def test_readme_configuration_table_lists_every_setting() -> None:
    """README's configuration table names every setting and its environment variable."""
    readme = (ROOT / "README.md").read_text()
    for section, key, _, _ in describe():
        assert f"`{section}.{key}`" in readme, f"{section}.{key}"
        assert f"`OMNICHAT_{section.upper()}_{key.upper()}`" in readme
