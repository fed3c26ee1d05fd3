"""One strict email validator for every address we store: forms, identify, accounts, the CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from omnichat.emails import parse_email
from omnichat.errors import Invalid
from tests.servers import ServerProcess, run_cli, server_env
from tests.staff import sign_in_owner, unique_email
from tests.visitors import bearer, new_session

# The audit's address: parameters glued on, which became a bcc in the admin page's mailto: link.
SMUGGLED = "help@shop.example?bcc=attacker%40evil.test&body=x"
REFUSED = [
    SMUGGLED,
    "help@shop.example&cc=attacker@evil.test",
    "Ada <ada@example.com>",
    '"ada lovelace"@example.com',
    "ada@[127.0.0.1]",
    "ada@localhost",
    "ada@example",
    "<script>@example.com",
    "ada@exa mple.com",
    "ada@example.com\nbcc: x@evil.test",
    "a" * 250 + "@example.com",
    "@example.com",
    "ada@",
]


@pytest.mark.parametrize("address", REFUSED)
def test_refuses_what_is_not_a_plain_address(address: str) -> None:
    """Display names, quoted or bracketed parts, special-use and dotless domains, glued-on
    parameters and header breaks are refused, naming the field."""
    with pytest.raises(Invalid, match=r"^contact: must be an email address$"):
        parse_email(address, "contact")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  ada@example.com ", "ada@example.com"),
        ("Ada.Lovelace+chat@Example.COM", "Ada.Lovelace+chat@example.com"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("agent@acme.test", "agent@acme.test"),
        ("jürgen@bücher.example", "jürgen@bücher.example"),
    ],
)
def test_accepts_real_addresses_and_normalises_the_domain(typed: str, stored: str) -> None:
    """Ordinary, tagged, apostrophe and internationalised addresses pass; the domain is stored
    lower-case."""
    assert parse_email(typed) == stored


def test_follow_up_refuses_smuggled_parameters(server: ServerProcess) -> None:
    """The follow-up form stored the audit's address (and the admin page linked it with a bcc)."""
    token = new_session(server)["token"]
    response = httpx.post(
        f"{server.base_url}/api/v1/widget/followup",
        json={"email": SMUGGLED, "message": "call me"},
        headers=bearer(token),
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith("email:")


@pytest.mark.parametrize("address", [SMUGGLED, "<b>@x", "a@b"])
def test_identify_refuses_anything_with_an_at(server: ServerProcess, address: str) -> None:
    """identify accepted any text holding '@'; it now uses the same validator."""
    token = new_session(server)["token"]
    response = httpx.post(
        f"{server.base_url}/api/v1/widget/identify",
        json={"name": "Eve", "email": address},
        headers=bearer(token),
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith("email:")


def test_staff_accounts_refuse_smuggled_parameters(server: ServerProcess) -> None:
    """Creating or renaming an account checks the address the same way."""
    boss = sign_in_owner(server)
    created = httpx.post(
        f"{server.base_url}/api/v1/users",
        json={"email": SMUGGLED, "role": "agent"},
        headers=boss.headers,
    )
    assert created.status_code == 422, created.text
    fine = httpx.post(
        f"{server.base_url}/api/v1/users",
        json={"email": unique_email(), "role": "agent"},
        headers=boss.headers,
    )
    assert fine.status_code == 201, fine.text
    changed = httpx.patch(
        f"{server.base_url}/api/v1/users/{fine.json()['user']['id']}",
        json={"email": SMUGGLED},
        headers=boss.headers,
    )
    assert changed.status_code == 422, changed.text


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, stdin="a-long-password-1\n")


def test_create_user_and_bootstrap_refuse_smuggled_parameters(tmp_path: Path) -> None:
    """The command line and the first start's owner use the same validator."""
    env = server_env(tmp_path / "data")
    made = run("create-user", SMUGGLED, "--role", "agent", "--password-stdin", env=env)
    assert made.returncode == 1 and "must be an email address" in made.stderr
    bootstrap = server_env(tmp_path / "fresh", OMNICHAT_BOOTSTRAP_EMAIL=SMUGGLED)
    checked = run("create-user", "ada@example.com", "--role", "agent", env=bootstrap)
    assert checked.returncode == 1
    assert "setting bootstrap.email: must be an email address" in checked.stderr
