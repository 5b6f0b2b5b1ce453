"""Telethon's MTProxy classes through the proxy to the fake DC and back."""
import asyncio
import os

import pytest

from harness import client
from harness.fake_dc import echo_of

WORD_SIZES = [4, 8, 12, 16, 64, 500, 504, 508, 512, 1024, 4096, 16384, 65536, 131072, 262144]
# Intermediate framing carries any length; abridged and padded intermediate carry whole words.
ODD_SIZES = [1, 3, 5, 1021, 65537]
SIZES = {"abridged": WORD_SIZES, "padded": WORD_SIZES, "intermediate": sorted(WORD_SIZES + ODD_SIZES)}


def run(coroutine, timeout=120):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


async def exchange(proxy, secret, kind, sizes, dc_id=2, local_addr=None):
    conn = await client.connect(kind, proxy.host, proxy.port, secret, dc_id=dc_id, local_addr=local_addr)
    try:
        for size in sizes:
            payload = os.urandom(size)
            assert await client.round_trip(conn, payload) == echo_of(payload), f"{kind}: {size} bytes"
    finally:
        await conn.disconnect()


@pytest.mark.parametrize("kind", ["abridged", "intermediate", "padded"])
def test_packets_of_every_size_relay_both_ways(start_proxy, fake_dc, new_secret, kind):
    proxy = start_proxy(new_secret)
    before = fake_dc.count()
    run(exchange(proxy, new_secret, kind, SIZES[kind]))
    record = fake_dc.wait_for(lambda cs: len(cs) > before and cs[-1].closed)[-1]
    assert record.tag == client.TAG_OF_CLASS[kind]
    assert record.packets == len(SIZES[kind])
    assert record.bytes_in == sum(SIZES[kind])
    assert record.error is None


@pytest.mark.parametrize("dc_id,kind", [
    (1, "abridged"), (2, "intermediate"), (3, "padded"), (4, "abridged"), (5, "intermediate"),
    (-2, "padded"), (-4, "abridged"),
    pytest.param(203, "intermediate", marks=pytest.mark.mtproxy_only),  # CDN; not in alexbers' table
])
def test_dc_index_and_tag_reach_the_right_dc(start_proxy, fake_dc, new_secret, dc_id, kind):
    proxy = start_proxy(new_secret)
    before = fake_dc.count()
    run(exchange(proxy, new_secret, kind, [16, 1024], dc_id=dc_id))
    record = fake_dc.wait_for(lambda cs: len(cs) > before and cs[-1].closed)[-1]
    assert record.dc_listener == abs(dc_id), "dialled the wrong DC address"
    if proxy.writes_dc_index:
        assert record.dc_index == dc_id, "the DC index in the proxy's header is not the client's"
    assert record.tag == client.TAG_OF_CLASS[kind]


def test_concurrent_clients_each_get_their_own_echo(start_proxy, fake_dc, new_secret):
    proxy = start_proxy(new_secret)

    async def many():
        await asyncio.gather(*[
            exchange(proxy, new_secret, kind, [4, 4096, 65536], dc_id=1 + i % 5)
            for i, kind in enumerate(["abridged", "intermediate", "padded"] * 3)
        ])

    run(many())


@pytest.mark.mtproxy_only
def test_unknown_dc_is_closed_with_an_event(start_proxy, fake_dc, new_secret):
    proxy = start_proxy(new_secret)
    before = fake_dc.count()
    outcome = run(client.attempt("padded", proxy.host, proxy.port, new_secret, dc_id=99))
    assert outcome == "closed"
    event = proxy.wait_event(lambda e: e.get("event.outcome") == "failure"
                             and (e.get("mt.dc") == 99 or e.get("event.reason") == "unknown_dc"))
    assert event["event.action"] in ("handshake.failed", "upstream.failed", "session.closed"), event
    assert fake_dc.count() == before, "an unknown DC must not be replaced by another"
