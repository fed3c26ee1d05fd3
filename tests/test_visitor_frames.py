"""Visitor frame parsing without a server."""

from __future__ import annotations

import pytest

from omnichat.protocol.frames import FrameError, error_frame
from omnichat.protocol.visitor_frames import Hello, Ping, Seen, Send, Typing, parse


def test_valid_frames_parse() -> None:
    """Each frame type of the contract parses into its record; message text is trimmed."""
    assert parse('{"type":"hello","token":"t","last_seq":3}') == Hello("t", 3)
    assert parse('{"type":"message","client_id":"c","text":"  hi  "}') == Send("c", "hi")
    assert parse('{"type":"typing","on":true}') == Typing(True)
    assert parse('{"type":"seen","seq":7}') == Seen(7)
    assert parse('{"type":"ping"}') == Ping()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "malformed_json"),
        ("[1,2]", "malformed_json"),
        ('{"type":"dance"}', "unknown_type"),
        ('{"type":"seen","seq":-1}', "invalid_field"),
        ('{"type":"seen","seq":true}', "invalid_field"),
        ('{"type":"seen","seq":9223372036854775808}', "invalid_field"),
        ('{"type":"hello","last_seq":0}', "invalid_field"),
        ('{"type":"hello","token":"t","last_seq":9223372036854775808}', "invalid_field"),
        ('{"type":"message","client_id":"","text":"x"}', "invalid_field"),
        ('{"type":"message","client_id":"' + "c" * 65 + '","text":"x"}', "invalid_field"),
    ],
)
def test_bad_frames_name_the_problem(frame: str, code: str) -> None:
    """Malformed, unknown or invalid frames raise FrameError with a contract-style code."""
    with pytest.raises(FrameError) as info:
        parse(frame)
    assert info.value.code == code


def test_text_limits_count_code_points() -> None:
    """4000 code points (even emoji) pass; 4001 or blank text is refused, naming the client id."""
    assert parse('{"type":"message","client_id":"c","text":"' + "😀" * 4000 + '"}')
    for text in ("😀" * 4001, "   "):
        with pytest.raises(FrameError) as info:
            parse('{"type":"message","client_id":"c9","text":"' + text + '"}')
        assert info.value.client_id == "c9"
        assert '"client_id":"c9"' in error_frame(info.value)
