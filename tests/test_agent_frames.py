"""Agent frame parsing without a server."""

from __future__ import annotations

import pytest

from omnichat.protocol.agent_frames import Hello, Ping, Typing, parse
from omnichat.protocol.frames import FrameError, error_frame


def test_valid_frames_parse() -> None:
    """Each frame type an agent may send parses into its record."""
    assert parse('{"type":"hello","token":"t","last_event_id":7}') == Hello("t", 7)
    assert parse('{"type":"hello","token":"t","last_event_id":null}') == Hello("t", None)
    assert parse('{"type":"hello","token":"t"}') == Hello("t", None)
    assert parse('{"type":"typing","conversation_id":3,"on":true}') == Typing(3, True, False)
    assert parse('{"type":"typing","conversation_id":3,"on":false,"private":true}') == Typing(
        3, False, True
    )
    assert parse('{"type":"ping"}') == Ping()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "malformed_json"),
        ('"hello"', "malformed_json"),
        ('{"type":"message","text":"agents reply over HTTP"}', "unknown_type"),
        ('{"type":"hello"}', "invalid_field"),
        ('{"type":"hello","token":""}', "invalid_field"),
        ('{"type":"hello","token":"t","last_event_id":-1}', "invalid_field"),
        ('{"type":"hello","token":"t","last_event_id":"5"}', "invalid_field"),
        ('{"type":"hello","token":"t","last_event_id":9223372036854775808}', "invalid_field"),
        ('{"type":"typing","on":true}', "invalid_field"),
        ('{"type":"typing","conversation_id":9223372036854775808,"on":true}', "invalid_field"),
        ('{"type":"typing","conversation_id":true,"on":true}', "invalid_field"),
        ('{"type":"typing","conversation_id":1,"on":"yes"}', "invalid_field"),
        ('{"type":"typing","conversation_id":1,"on":true,"private":1}', "invalid_field"),
    ],
)
def test_bad_frames_name_the_problem(frame: str, code: str) -> None:
    """Malformed, unknown or invalid frames raise FrameError with a contract-style code."""
    with pytest.raises(FrameError) as info:
        parse(frame)
    assert info.value.code == code
    assert f'"code":"{code}"' in error_frame(info.value)
