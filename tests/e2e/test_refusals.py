"""Wrong secrets, transports a proxy does not accept, dd and ee secrets."""
import asyncio
import time

import pytest

from harness import client

pytestmark = pytest.mark.mtproxy_only


def run(coroutine, timeout=60):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


@pytest.mark.parametrize("kind", ["abridged", "intermediate", "padded"])
def test_wrong_secret_is_refused_and_never_reaches_a_dc(start_proxy, fake_dc, new_secret, kind):
    proxy = start_proxy(new_secret)
    before = fake_dc.count()
    wrong = "%032x" % (int(new_secret, 16) ^ 1)
    assert run(client.attempt(kind, proxy.host, proxy.port, wrong, wait=3)) != "relayed"
    event = proxy.wait_action("handshake.failed")
    assert event.get("event.outcome") == "failure"
    assert event.get("source.ip") == "127.0.0.1"
    assert event.get("event.reason") in ("bad_secret", "unknown_tag"), event
    time.sleep(0.3)
    assert fake_dc.count() == before, "a client with a wrong secret reached a DC"


def test_dd_secret_serves_padded_intermediate(start_proxy, fake_dc, new_secret):
    proxy = start_proxy("dd" + new_secret)
    before = fake_dc.count()
    assert run(client.attempt("padded", proxy.host, proxy.port, "dd" + new_secret)) == "relayed"
    record = fake_dc.wait_for(lambda cs: len(cs) > before)[-1]
    assert record.tag == "padded"
    event = proxy.wait_action("handshake.succeeded")
    assert event.get("proxy.transport") == "secure"
    assert event.get("mt.secret") == "main"


@pytest.mark.parametrize("kind", ["abridged", "intermediate"])
def test_secure_only_proxy_refuses_classic_clients(start_proxy, fake_dc, new_secret, kind):
    proxy = start_proxy("dd" + new_secret, transports=["secure"])
    before = fake_dc.count()
    assert run(client.attempt(kind, proxy.host, proxy.port, new_secret, wait=3)) != "relayed"
    event = proxy.wait_action("handshake.failed")
    assert event.get("event.reason") == "transport_not_allowed", event
    assert fake_dc.count() == before
    assert run(client.attempt("padded", proxy.host, proxy.port, "dd" + new_secret)) == "relayed"


def test_faketls_only_proxy_refuses_plain_obfuscated2(start_proxy, fake_dc, new_secret):
    domain = "www.example.com".encode().hex()
    proxy = start_proxy("ee" + new_secret + domain, transports=["faketls"])
    before = fake_dc.count()
    # Telethon drops the ee prefix and domain and speaks plain obfuscated2 with the key.
    assert run(client.attempt("padded", proxy.host, proxy.port, "ee" + new_secret + domain, wait=3)) != "relayed"
    event = proxy.wait_action("handshake.failed")
    assert event.get("event.reason") in ("transport_not_allowed", "malformed"), event
    assert fake_dc.count() == before
