"""What each process of a multi-process installation holds that the others must see (the
visitors it has sockets for, the agents it has online), as a local mirror read synchronously.

Entries are `(space, member) -> value`. This process's own are `mine`; the others' arrive as
changes (`apply`) and as whole snapshots re-read every heartbeat (`replace`), which also
drop the processes that stopped heartbeating. No I/O here: the Redis hub feeds it.
"""

from __future__ import annotations

from collections.abc import Callable

Vanished = Callable[[str, str, str], None]


def field(space: str, member: str) -> str:
    """How an entry is named in a process's Redis hash."""
    return f"{space}|{member}"


class Census:
    def __init__(self) -> None:
        self.mine: dict[str, str] = {}
        # Called with (space, member, value) for each entry a dead process held that no live
        # process holds now (presence announces those users offline).
        self.on_vanished: list[Vanished] = []
        self._others: dict[str, dict[str, dict[str, str]]] = {}
        self._replaying: list[tuple[str, str, str, str]] | None = None

    def values(self, space: str, member: str) -> list[str]:
        """The values every process (this one included) holds `member` of `space` with."""
        values = [self.mine[field(space, member)]] if field(space, member) in self.mine else []
        for spaces in self._others.values():
            value = spaces.get(space, {}).get(member)
            if value is not None:
                values.append(value)
        return values

    def members(self, space: str) -> set[str]:
        """The members of `space` some process holds."""
        prefix = field(space, "")
        members = {name[len(prefix) :] for name in self.mine if name.startswith(prefix)}
        for spaces in self._others.values():
            members.update(spaces.get(space, ()))
        return members

    def held_elsewhere(self, space: str, member: str) -> bool:
        return any(member in spaces.get(space, ()) for spaces in self._others.values())

    def apply(self, process_id: str, op: str, name: str, value: str) -> None:
        """Another process added (`+`) or removed (`-`) the entry `name`."""
        if self._replaying is not None:
            self._replaying.append((process_id, op, name, value))
        space, _, member = name.partition("|")
        spaces = self._others.setdefault(process_id, {})
        if op == "+":
            spaces.setdefault(space, {})[member] = value
        else:
            spaces.get(space, {}).pop(member, None)

    def reading(self) -> None:
        """A snapshot is being read: keep the changes arriving meanwhile, to apply on top."""
        self._replaying = []

    def replace(self, hashes: dict[str, dict[str, str]] | None) -> None:
        """Install the snapshot read (None: the read failed), then the changes since."""
        replay, self._replaying = self._replaying or [], None
        if hashes is None:
            return
        before = self._others
        self._others = {}
        for process_id, fields in hashes.items():
            for name, value in fields.items():
                self.apply(process_id, "+", name, value)
        for change in replay:
            self.apply(*change)
        for process_id in before.keys() - self._others.keys():
            for space, members in before[process_id].items():
                for member, value in members.items():
                    if not self.values(space, member):
                        for callback in self.on_vanished:
                            callback(space, member, value)
