"""The egress guard without a server: which hosts are internal, and the resolver at connect time."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from omnichat.egress import Egress, EgressRefused, GuardedResolver, literal_address, refusal

INTERNAL_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://0x7f.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[fe80::1%25eth0]/",
    "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
    "http://169.254.169.254/latest/meta-data/",
    "http://100.100.100.200/",  # Alibaba metadata (shared address space)
    "http://10.0.0.5/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "http://printer.local/",
    "http://metadata.google.internal/",
    "http://router.home.arpa/",
    "http://metadata/",
]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_destinations_are_refused(url: str) -> None:
    """Loopback, private, link-local, metadata, multicast, reserved and unspecified addresses,
    in every spelling, and internal names, are refused."""
    with pytest.raises(EgressRefused):
        Egress().check_url(url)


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com/x", "http://93.184.215.14/", "http://[2606:4700::1111]/"],
)
def test_public_destinations_pass(url: str) -> None:
    """Public names and addresses are allowed (a name is checked again when it resolves)."""
    Egress().check_url(url)


def test_legacy_ipv4_spellings_are_read_as_addresses() -> None:
    """Integer, hex, octal and short forms mean the address a resolver would connect to."""
    loopback = ipaddress.IPv4Address("127.0.0.1")
    for spelling in ("2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.0.0.1"):
        assert literal_address(spelling) == loopback
    assert literal_address("[::1]") == ipaddress.IPv6Address("::1")
    assert literal_address("cafe.be") is None and literal_address("example.com") is None


def test_the_allow_list_takes_names_addresses_and_networks() -> None:
    """The operator can allow a name, an address or a network; nothing else opens up."""
    egress = Egress(["hooks.internal.example", "127.0.0.1", "10.1.0.0/16", "[::1]"])
    for url in (
        "http://hooks.internal.example/x",
        "http://HOOKS.internal.example./x",
        "http://127.0.0.1:9000/",
        "http://0x7f000001/",
        "http://10.1.200.3/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
    ):
        egress.check_url(url)
    for url in (
        "http://127.0.0.2/",
        "http://10.2.0.1/",
        "http://localhost/",
        "http://other.local/",
    ):
        with pytest.raises(EgressRefused):
            egress.check_url(url)


class FixedResolver(AbstractResolver):
    """A DNS stand-in: each name answers the addresses given, like a rebinding attacker's."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in self.answers[host]
        ]

    async def close(self) -> None:
        pass


async def test_the_resolver_drops_internal_answers() -> None:
    """Internal addresses in a DNS answer are dropped; only internal ones is a refusal; an
    allowed name keeps its answer whole."""
    inner = FixedResolver(
        {
            "rebound.example": ["127.0.0.1", "::1"],
            "mixed.example": ["10.0.0.1", "93.184.215.14"],
            "hooks.internal.example": ["10.0.0.9"],
        }
    )
    guarded = GuardedResolver(Egress(["hooks.internal.example"]), inner)
    with pytest.raises(EgressRefused):
        await guarded.resolve("rebound.example", 80)
    assert [r["host"] for r in await guarded.resolve("mixed.example", 80)] == ["93.184.215.14"]
    assert [r["host"] for r in await guarded.resolve("hooks.internal.example", 80)] == ["10.0.0.9"]


@pytest.fixture
async def standin() -> AsyncIterator[tuple[int, list[str]]]:
    """A loopback HTTP server recording every request's path."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield runner.addresses[0][1], seen
    await runner.cleanup()


async def test_a_public_name_resolving_to_loopback_is_not_connected_to(
    standin: tuple[int, list[str]],
) -> None:
    """A name that passes the literal check but resolves to loopback (DNS rebinding) is refused
    at connect time: the loopback stand-in receives nothing."""
    port, seen = standin
    url = f"http://rebound.example:{port}/hook"
    Egress().check_url(url)  # a public-looking name passes the literal check
    resolver = GuardedResolver(Egress(), FixedResolver({"rebound.example": ["127.0.0.1"]}))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver)) as session:
        with pytest.raises(aiohttp.ClientError) as failed:
            await session.post(url, data=b"{}")
    assert isinstance(refusal(failed.value), EgressRefused)
    assert seen == []


async def test_the_guarded_session_refuses_localhost_unless_allowed(
    standin: tuple[int, list[str]],
) -> None:
    """`Egress.session` resolves localhost and refuses it; allowed, the same call goes through."""
    port, seen = standin
    async with Egress().session() as session:
        with pytest.raises(aiohttp.ClientError) as failed:
            await session.get(f"http://localhost:{port}/no")
    assert refusal(failed.value) is not None and seen == []
    async with (
        Egress(["localhost"]).session() as session,
        session.get(f"http://localhost:{port}/yes") as response,
    ):
        assert response.status == 200
    assert seen == ["/yes"]
