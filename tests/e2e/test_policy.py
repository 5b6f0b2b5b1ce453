"""Connection limits and the live blocklist, with distinct loopback clients 127.0.0.x."""
import asyncio
import os
import time

import pytest

from harness import client, raw

pytestmark = pytest.mark.mtproxy_only

BLOCKLIST_WAIT = 5.0  # the proxy promises 100 ms; this bounds the test, not the proxy


def run(coroutine, timeout=90):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


async def hold(proxy, secret, source_ips):
    """Opens one relayed Telethon connection from each address and keeps it open."""
    connections = await asyncio.gather(*[
        client.connect("padded", proxy.host, proxy.port, secret, local_addr=ip) for ip in source_ips
    ])
    for connection in connections:
        assert await client.round_trip(connection, b"held" * 4) is not None
    return connections


async def release(connections):
    await asyncio.gather(*[c.disconnect() for c in connections])


def rejected(proxy, source_ip, reason):
    return proxy.wait_event(lambda e: e.get("event.action") == "connection.rejected"
                            and e.get("source.ip") == source_ip and e.get("event.reason") == reason)


def test_max_connections_per_ip(start_proxy, new_secret):
    proxy = start_proxy(new_secret, limits={"max_connections_per_ip": 2, "handshake_timeout": "10s"})

    async def scenario():
        held = await hold(proxy, new_secret, ["127.0.0.2", "127.0.0.2"])
        try:
            refused = await asyncio.to_thread(raw.closed_without_a_byte, "127.0.0.2", proxy.host, proxy.port)
            other = await client.attempt("abridged", proxy.host, proxy.port, new_secret, local_addr="127.0.0.3")
        finally:
            await release(held)
        return refused, other

    refused, other = run(scenario())
    assert refused, "a third connection from one address was not refused"
    assert other == "relayed", "another address was refused too"
    rejected(proxy, "127.0.0.2", "ip_limit")


def test_max_connections(start_proxy, new_secret):
    proxy = start_proxy(new_secret, limits={"max_connections": 2, "handshake_timeout": "10s"})

    async def scenario():
        held = await hold(proxy, new_secret, ["127.0.0.4", "127.0.0.5"])
        try:
            refused = await asyncio.to_thread(raw.closed_without_a_byte, "127.0.0.6", proxy.host, proxy.port)
        finally:
            await release(held)
        return refused

    assert run(scenario()), "a connection over max_connections was not refused"
    rejected(proxy, "127.0.0.6", "global_limit")
    # The slots come back when the held connections close.
    deadline = time.monotonic() + 10
    while run(client.attempt("padded", proxy.host, proxy.port, new_secret, local_addr="127.0.0.6")) != "relayed":
        assert time.monotonic() < deadline, "slots were not released after the connections closed"
        time.sleep(0.2)


def write_blocklist(path, text):
    # Written whole and renamed into place, as mtauditor does.
    temporary = path + ".tmp"
    with open(temporary, "w") as file:
        file.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def test_blocklist_change_applies_to_a_live_proxy(start_proxy, new_secret, tmp_path):
    blocklist = str(tmp_path / "blocklist.txt")
    write_blocklist(blocklist, "# nothing blocked yet\n")
    proxy = start_proxy(new_secret, blocklist=blocklist)
    assert run(client.attempt("padded", proxy.host, proxy.port, new_secret, local_addr="127.0.0.7")) == "relayed"

    write_blocklist(blocklist, "127.0.0.7\n10.99.0.0/16\n")
    started = time.monotonic()
    while not raw.closed_without_a_byte("127.0.0.7", proxy.host, proxy.port, wait=1.0):
        assert time.monotonic() - started < BLOCKLIST_WAIT, "blocklist change not applied in time"
    rejected(proxy, "127.0.0.7", "blocklisted")
    assert run(client.attempt("padded", proxy.host, proxy.port, new_secret, local_addr="127.0.0.8")) == "relayed"

    write_blocklist(blocklist, "127.0.0.0/29\n")  # a CIDR: .0–.7
    started = time.monotonic()
    while not raw.closed_without_a_byte("127.0.0.6", proxy.host, proxy.port, wait=1.0):
        assert time.monotonic() - started < BLOCKLIST_WAIT, "CIDR entry not applied in time"
    assert run(client.attempt("padded", proxy.host, proxy.port, new_secret, local_addr="127.0.0.8")) == "relayed"


def test_bad_blocklist_line_is_reported_and_the_rest_applies(start_proxy, new_secret, tmp_path):
    blocklist = str(tmp_path / "blocklist.txt")
    write_blocklist(blocklist, "127.0.0.9\nnot-an-address\n127.0.0.10/32\n")
    proxy = start_proxy(new_secret, blocklist=blocklist)

    event = proxy.wait_action("blocklist.reloaded")
    assert str(event.get("labels.bad_lines")) == "1", event
    deadline = time.monotonic() + 5
    while "blocklist.txt:2" not in proxy.output():
        assert time.monotonic() < deadline, "the bad line's number was not reported:\n" + proxy.output()
        time.sleep(0.05)
    assert raw.closed_without_a_byte("127.0.0.9", proxy.host, proxy.port)
    assert raw.closed_without_a_byte("127.0.0.10", proxy.host, proxy.port)
    assert run(client.attempt("padded", proxy.host, proxy.port, new_secret, local_addr="127.0.0.11")) == "relayed"
