"""The conformance run: schemathesis sends generated requests, valid and invalid, to every
operation of /api/openapi.json on a real `python run.py serve`, as an owner and as an agent,
and checks each answer against the document.

What is checked of every answer: no 5xx, its status is one the operation documents, its content
type is the documented one, its body matches the documented schema, and every 4xx carries the
error envelope. Operations that would end the run's own session or account are left out
(`SELF_DESTRUCTIVE`); their behaviour has tests of its own (tests/test_auth*.py,
tests/test_users.py). The number of cases run is printed (`-s` shows it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.servers import ServerProcess, server_env
from tests.staff import Account, create_account, sign_in_owner
from tests.visitors import new_session

# Examples per operation and generation mode; the whole run stays near a minute.
EXAMPLES = int(os.environ.get("CONFORMANCE_EXAMPLES", "15"))
SELF_DESTRUCTIVE = {
    ("POST", "/api/v1/auth/logout"),  # ends the run's session
    ("POST", "/api/v1/auth/password"),  # changes the run's password
    # Could demote, disable or reset the password of the run's own account (ids 1 and 2).
    ("PATCH", "/api/v1/users/{user_id}"),
}


@dataclass
class Run:
    """What a role's run did: cases sent, and the failures found (operation, what, request)."""

    cases: int = 0
    failures: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def conformance_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real server of the run's own: it creates and changes much, which no other test
    should see."""
    data_dir: Path = tmp_path_factory.mktemp("conformance") / "data"
    process = ServerProcess(data_dir, server_env(data_dir)).start()
    yield process
    process.stop()


def not_a_server_error(response: requests.Response) -> None:
    assert response.status_code < 500, f"server error {response.status_code}: {response.text}"


def error_envelope(response: requests.Response) -> None:
    if 400 <= response.status_code < 500:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        assert isinstance(error, dict), f"{response.status_code} without the error envelope"
        assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str)


def visitor_with_conversation(server: ServerProcess) -> str:
    """A visitor token whose conversation holds a message and a follow-up, so the staff
    operations on ids find something to work on."""
    token: str = new_session(server)["token"]
    headers = {"Authorization": f"Bearer {token}"}
    message = {"client_id": "seed", "text": "Hello"}
    answer = server.http.post("/api/v1/widget/messages", json=message, headers=headers)
    assert answer.status_code in (200, 201), answer.text
    form = {"email": "seed@example.com", "message": "Call me"}
    answer = server.http.post("/api/v1/widget/followup", json=form, headers=headers)
    assert answer.status_code == 201, answer.text
    return token


CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


def run_operations(server: ServerProcess, staff: Account, visitor_token: str) -> Run:
    """Every operation of the served document but `SELF_DESTRUCTIVE`, with the staff member's
    bearer (the visitor's for widget operations)."""
    document = server.http.get("/api/openapi.json").json()
    run = Run()
    session = requests.Session()
    for result in schemathesis.openapi.from_dict(document).get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SELF_DESTRUCTIVE:
            continue
        security = operation.definition.raw.get("security", [])
        schemes = {name for item in security for name in item}
        token = visitor_token if "visitorToken" in schemes else staff.access_token
        headers = {"Authorization": f"Bearer {token}"} if schemes else {}
        run_operation(operation, server.base_url, session, headers, run)
    return run


def run_operation(
    operation: Any, base_url: str, session: requests.Session, headers: dict[str, str], run: Run
) -> None:
    """Generated cases of one operation, valid and invalid; failures are collected, not
    raised, so one run reports everything it found."""
    label = f"{operation.method.upper()} {operation.path}"
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @hypothesis.settings(
        max_examples=EXAMPLES * 2,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @given(case=strategy)
    def send(case: Any) -> None:
        if case.query and "wait" in case.query:
            # The long poll would hold each case up to 30 s; its waiting has its own tests.
            case.query["wait"] = 0
        run.cases += 1
        response = case.call(base_url=base_url, session=session, headers=headers)
        try:
            not_a_server_error(response)
            error_envelope(response)
            case.validate_response(response, checks=CHECKS, headers=headers)
        except Exception as exc:
            curl = case.as_curl_command(headers=headers)
            run.failures.append(f"{label}: {exc}\n  -> {curl}")

    send()


def report(role: str, run: Run) -> None:
    print(f"conformance as {role}: {run.cases} cases, {len(run.failures)} failures")
    unique = sorted(set(run.failures))
    assert not unique, "\n\n".join(unique[:30])


def test_conformance_as_owner(conformance_server: ServerProcess) -> None:
    """As an owner, every documented operation answers as the document says, never 5xx."""
    owner = sign_in_owner(conformance_server)
    visitor = visitor_with_conversation(conformance_server)
    report("owner", run_operations(conformance_server, owner, visitor))


def test_conformance_as_agent(conformance_server: ServerProcess) -> None:
    """As an agent, every documented operation answers as the document says (403 included),
    never 5xx."""
    agent = create_account(conformance_server, sign_in_owner(conformance_server), "agent")
    visitor = visitor_with_conversation(conformance_server)
    report("agent", run_operations(conformance_server, agent, visitor))
