"""Reload, shutdown and what the proxy must never reveal."""
import asyncio
import base64
import signal

import pytest

from harness import client
from harness.fake_dc import echo_of

pytestmark = pytest.mark.mtproxy_only


def run(coroutine, timeout=60):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def test_sighup_with_a_broken_config_keeps_serving(start_proxy, new_secret):
    proxy = start_proxy(new_secret)
    good = dict(proxy.config)

    async def scenario():
        held = await client.connect("intermediate", proxy.host, proxy.port, new_secret)
        try:
            assert await client.round_trip(held, b"before") == echo_of(b"before")
            proxy.write_config(text="instance: e2e\nsecrets: [\n  this is not: yaml\n")
            proxy.signal(signal.SIGHUP)
            await asyncio.to_thread(proxy.wait_action, "config.rejected")
            assert proxy.process.poll() is None, "the proxy exited on a broken config"
            assert await client.round_trip(held, b"after!") == echo_of(b"after!"), "a live session broke"
        finally:
            await held.disconnect()
        assert await client.attempt("padded", proxy.host, proxy.port, new_secret) == "relayed"

    run(scenario())
    proxy.write_config(dict(good, limits={"handshake_timeout": "10s", "max_connections_per_ip": 5}))
    proxy.signal(signal.SIGHUP)
    proxy.wait_action("config.reloaded")
    assert run(client.attempt("padded", proxy.host, proxy.port, new_secret)) == "relayed"


def test_sigterm_exits_cleanly(start_proxy, new_secret):
    proxy = start_proxy(new_secret)
    assert run(client.attempt("intermediate", proxy.host, proxy.port, new_secret)) == "relayed"
    assert proxy.stop() == 0
    proxy.wait_action("proxy.stopped", timeout=2)


def secret_forms(key_hex):
    key = bytes.fromhex(key_hex)
    return {key_hex, "dd" + key_hex, base64.urlsafe_b64encode(key).decode().rstrip("="),
            base64.b64encode(key).decode().rstrip("=")}


def assert_no_secret(places, key_hex):
    for place, data in places.items():
        text = data.decode("utf-8", "replace").lower()
        for form in secret_forms(key_hex):
            assert form.lower() not in text, f"a form of the secret appears in {place}"


def exercise(proxy, key_hex):
    """A relayed session and a refused one, so the events, stats and logs have something to say."""
    assert run(client.attempt("padded", proxy.host, proxy.port, "dd" + key_hex)) == "relayed"
    wrong = "%032x" % (int(key_hex, 16) ^ 0xFF)
    assert run(client.attempt("abridged", proxy.host, proxy.port, wrong, wait=3)) != "relayed"
    proxy.wait_action("handshake.failed")


def test_secret_never_appears_in_events_or_output(start_proxy, new_secret):
    proxy = start_proxy("dd" + new_secret)
    exercise(proxy, new_secret)
    proxy.signal(signal.SIGHUP)
    proxy.wait_action("config.reloaded")
    assert proxy.stop() == 0
    events = open(proxy.events_path, "rb").read()
    assert b"session.closed" in events, "no session.closed event was written"
    assert_no_secret({"events": events, "stdout/stderr": proxy.raw_output()}, new_secret)


def test_secret_never_appears_in_stats_pages(start_proxy, new_secret):
    proxy = start_proxy("dd" + new_secret)
    exercise(proxy, new_secret)
    pages = {path: proxy.http_get(path) for path in ("/stats", "/metrics")}
    assert b"{" in pages["/stats"] and pages["/metrics"], "empty stats pages"
    assert_no_secret(pages, new_secret)
