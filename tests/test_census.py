"""The census mirror without Redis: changes, snapshots, and processes that vanish."""

from __future__ import annotations

from omnichat.protocol.census import Census, field


def test_changes_from_other_processes_are_mirrored() -> None:
    """Entries added and removed elsewhere show in values and members; own ones count too."""
    census = Census()
    census.mine[field("presence", "7")] = "away"
    census.apply("p2", "+", field("presence", "7"), "online")
    census.apply("p2", "+", field("presence", "8"), "online")
    assert sorted(census.values("presence", "7")) == ["away", "online"]
    assert census.members("presence") == {"7", "8"}
    assert census.held_elsewhere("presence", "8") and not census.held_elsewhere("other", "8")
    census.apply("p2", "-", field("presence", "8"), "")
    assert census.members("presence") == {"7"}


def test_a_snapshot_keeps_changes_that_arrived_while_it_was_read() -> None:
    """A change announced during the read is applied on top of the (older) snapshot."""
    census = Census()
    census.reading()
    census.apply("p2", "+", field("listening", "visitor:1"), "1")
    census.replace({"p2": {}})
    assert census.held_elsewhere("listening", "visitor:1")


def test_entries_of_a_vanished_process_are_reported_unless_held_elsewhere() -> None:
    """A process missing from a snapshot is dropped; what no one else holds is reported."""
    census = Census()
    gone: list[tuple[str, str, str]] = []
    census.on_vanished.append(lambda *entry: gone.append(entry))
    census.replace(
        {"p2": {"presence|7": "online", "presence|8": "away"}, "p3": {"presence|8": "x"}}
    )
    census.reading()
    census.replace({"p3": {"presence|8": "x"}})
    assert gone == [("presence", "7", "online")]
    assert census.members("presence") == {"8"}


def test_a_failed_read_changes_nothing() -> None:
    """Without a snapshot the mirror stays as it was."""
    census = Census()
    census.replace({"p2": {"presence|7": "online"}})
    census.reading()
    census.replace(None)
    assert census.members("presence") == {"7"}
