"""ee secrets: fake TLS with a tdlib-style ClientHello, Telethon's obfuscated2 inside."""
import asyncio
import os

import pytest

from harness.fake_dc import echo_of
from harness.faketls import FakeTLSConnection, FakeTLSError

DOMAIN = "www.example.com"


def ee_secret(key_hex):
    return "ee" + key_hex + DOMAIN.encode().hex()


def run(coroutine, timeout=60):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def test_fake_tls_relays_every_size_both_ways(start_proxy, fake_dc, new_secret):
    secret = ee_secret(new_secret)
    proxy = start_proxy(secret)
    before = fake_dc.count()
    sizes = [4, 64, 508, 2876, 2880, 16384, 65536, 262144]

    async def scenario():
        connection = await FakeTLSConnection.open(proxy.host, proxy.port, secret, dc_id=-3)
        try:
            for size in sizes:
                payload = os.urandom(size)
                assert await connection.round_trip(payload) == echo_of(payload), f"{size} bytes"
            return connection.largest_server_record
        finally:
            connection.close()

    largest = run(scenario())
    assert largest <= proxy.tls_record_limit, "a record longer than clients accept"
    record = fake_dc.wait_for(lambda cs: len(cs) > before and cs[-1].packets == len(sizes))[-1]
    assert record.tag == "padded"
    assert record.dc_listener == 3
    if proxy.writes_dc_index:
        assert record.dc_index == -3


async def refused(proxy, secret, **options):
    try:
        connection = await FakeTLSConnection.open(proxy.host, proxy.port, secret, timeout=5, **options)
    except (FakeTLSError, ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
        return True
    try:
        payload = b"ping" * 4
        return await connection.round_trip(payload, timeout=3) != echo_of(payload)
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
        return True
    finally:
        connection.close()


@pytest.mark.mtproxy_only
def test_wrong_key_hello_is_refused(start_proxy, fake_dc, new_secret):
    secret = ee_secret(new_secret)
    proxy = start_proxy(secret)
    before = fake_dc.count()
    assert run(refused(proxy, secret, key_override=os.urandom(16)))
    event = proxy.wait_action("handshake.failed")
    assert event.get("event.reason") == "tls_digest", event
    assert fake_dc.count() == before


@pytest.mark.mtproxy_only
def test_stale_timestamp_is_refused(start_proxy, fake_dc, new_secret):
    secret = ee_secret(new_secret)
    proxy = start_proxy(secret)
    before = fake_dc.count()
    assert run(refused(proxy, secret, clock_skew=-3600))
    event = proxy.wait_action("handshake.failed")
    assert event.get("event.reason") == "tls_skew", event
    assert fake_dc.count() == before
