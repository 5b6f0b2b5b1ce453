"""Domain fronting: every client the proxy refuses ends at the fronting site (a local TLS
server standing in for www.example.com), which sees exactly the bytes the client sent."""
import asyncio
import os
import socket
import ssl
import subprocess
import time

import pytest
from telethon.network.connection.tcpintermediate import RandomizedIntermediatePacketCodec
from telethon.network.connection.tcpmtproxy import MTProxyIO

from harness.fake_dc import echo_of
from harness.faketls import FakeTLSConnection, client_hello, parse_secret
from harness.fronting import BODY, FrontingSite

pytestmark = pytest.mark.mtproxy_only

DOMAIN = "www.example.com"


def ee_secret(key_hex):
    return "ee" + key_hex + DOMAIN.encode().hex()


def run(coroutine, timeout=60):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


@pytest.fixture
def site(tmp_path):
    site = FrontingSite(str(tmp_path), DOMAIN).start()
    yield site
    site.stop()


@pytest.fixture
def fronted_proxy(start_proxy, site, new_secret):
    """start(**overrides) -> (proxy, secret hex) with fronting to the local site."""
    def start(**overrides):
        secret = ee_secret(new_secret)
        config = {"fronting": {"enabled": True, "host": "127.0.0.1", "port": site.port}}
        config.update(overrides)
        return start_proxy(secret, **config), secret
    return start


def send_raw(proxy, data, linger=0.0):
    """Sends `data` on a fresh connection and keeps it open; returns the socket."""
    sock = socket.create_connection((proxy.host, proxy.port), timeout=10)
    if data:
        sock.sendall(data)
    if linger:
        time.sleep(linger)
    return sock


def reached_site_with(site, data):
    return site.wait_for(lambda connections: any(bytes(c.received) == data for c in connections))


def assert_forwarded(proxy, reason):
    failed = proxy.wait_action("handshake.failed", timeout=20)
    assert failed.get("event.reason") == reason, failed
    forwarded = proxy.wait_action("probe.forwarded", timeout=20)
    assert forwarded.get("event.reason") == reason, forwarded
    assert forwarded.get("source.ip") == "127.0.0.1"


def open_tls(proxy, site, server_name=DOMAIN, verify=True):
    context = ssl.create_default_context(cafile=site.certificate)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((proxy.host, proxy.port), timeout=20)
    return context.wrap_socket(raw, server_hostname=server_name)


def http_over(tls_socket):
    tls_socket.sendall(b"GET / HTTP/1.1\r\nHost: " + DOMAIN.encode() + b"\r\n\r\n")
    response = b""
    while True:
        try:
            chunk = tls_socket.recv(65536)
        except ssl.SSLError:
            break
        if not chunk:
            break
        response += chunk
    return response


def test_a_browser_gets_the_real_site_and_its_certificate(fronted_proxy, site, fake_dc):
    proxy, _ = fronted_proxy()
    before = fake_dc.count()
    with open_tls(proxy, site) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        response = http_over(tls)
    assert response.startswith(b"HTTP/1.1 200 OK") and response.endswith(BODY)
    assert_forwarded(proxy, "tls_digest")
    assert fake_dc.count() == before
    proxy.wait_action("session.closed", timeout=20, **{"event.reason": "tls_digest"})


def test_openssl_s_client_with_the_domain_as_sni_gets_the_real_site(fronted_proxy, site):
    proxy, _ = fronted_proxy()
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"{proxy.host}:{proxy.port}", "-servername", DOMAIN,
         "-CAfile", site.certificate, "-verify_return_error", "-quiet"],
        input=b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n", capture_output=True, timeout=60)
    assert BODY in result.stdout, result.stderr.decode(errors="replace")
    # OpenSSL's hello is shorter than the 512 bytes every Telegram client pads to, so it is
    # refused before its digest is looked at; either way it reaches the site.
    forwarded = proxy.wait_action("probe.forwarded", timeout=20)
    assert forwarded.get("event.reason") in ("malformed", "tls_digest"), forwarded


def test_plain_http_is_forwarded_at_once_byte_for_byte(fronted_proxy, site):
    proxy, _ = fronted_proxy()
    request = b"GET / HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: probe\r\n\r\n"
    with send_raw(proxy, request):
        reached_site_with(site, request)
    assert_forwarded(proxy, "malformed")


def test_random_bytes_are_forwarded_byte_for_byte(fronted_proxy, site):
    proxy, _ = fronted_proxy()
    garbage = b"\x42\x17\x99\x01" + os.urandom(300)
    with send_raw(proxy, garbage):
        reached_site_with(site, garbage)
    failed = proxy.wait_action("handshake.failed")
    assert failed.get("event.reason") in ("bad_secret", "unknown_tag"), failed
    proxy.wait_action("probe.forwarded")


def test_a_hello_signed_with_a_wrong_key_is_forwarded(fronted_proxy, site, fake_dc):
    proxy, _ = fronted_proxy()
    before = fake_dc.count()
    hello = client_hello(os.urandom(16), DOMAIN, int(time.time()))
    with send_raw(proxy, hello):
        reached_site_with(site, hello)
    assert_forwarded(proxy, "tls_digest")
    assert fake_dc.count() == before


def test_a_stale_hello_is_forwarded(fronted_proxy, site):
    proxy, secret = fronted_proxy()
    key, _ = parse_secret(secret)
    hello = client_hello(key, DOMAIN, int(time.time()) - 3 * 3600)
    with send_raw(proxy, hello):
        reached_site_with(site, hello)
    assert_forwarded(proxy, "tls_skew")
    assert proxy.wait_action("handshake.failed").get("mt.secret") == "main"


def test_a_hello_for_another_domain_is_forwarded_when_sni_must_match(fronted_proxy, site):
    proxy, secret = fronted_proxy(tls={"sni_policy": "match"})
    key, _ = parse_secret(secret)
    hello = client_hello(key, "other.example.org", int(time.time()))
    with send_raw(proxy, hello):
        reached_site_with(site, hello)
    assert_forwarded(proxy, "tls_sni")


def test_a_replayed_valid_hello_is_forwarded(fronted_proxy, site, fake_dc):
    proxy, secret = fronted_proxy()

    async def genuine():
        connection = await FakeTLSConnection.open(proxy.host, proxy.port, secret)
        try:
            payload = b"genuine!" * 3  # padded intermediate payloads are whole words
            assert await connection.round_trip(payload) == echo_of(payload)
            return connection.hello
        finally:
            connection.close()

    hello = run(genuine())
    proxy.wait_action("handshake.succeeded", **{"proxy.transport": "faketls"})
    with send_raw(proxy, hello):
        reached_site_with(site, hello)
    assert_forwarded(proxy, "replay")


def test_a_replayed_obfuscated2_header_is_forwarded(fronted_proxy, site, fake_dc):
    proxy, secret = fronted_proxy()
    key, _ = parse_secret(secret)
    header, _, _ = MTProxyIO.init_header(key, 2, RandomizedIntermediatePacketCodec)
    header = bytes(header)
    before = fake_dc.count()
    with send_raw(proxy, header):
        proxy.wait_action("handshake.succeeded", **{"proxy.transport": "secure"})
        fake_dc.wait_for(lambda connections: len(connections) > before)
    with send_raw(proxy, header):
        reached_site_with(site, header)
    assert_forwarded(proxy, "replay")


@pytest.mark.parametrize("sent", [b"", b"\x16\x03\x01\x02\x00", b"\x42" * 10],
                         ids=["silent", "partial-hello", "partial-obfuscated2"])
def test_a_client_that_sends_too_little_and_waits_is_forwarded_at_the_timeout(fronted_proxy, site, sent):
    proxy, _ = fronted_proxy(limits={"handshake_timeout": "2s"})
    with send_raw(proxy, sent) as sock:
        site.wait_for(lambda connections: len(connections) == 1)
        assert_forwarded(proxy, "timeout")
        # The splice carries on: what the client sends now reaches the site after what it sent before.
        sock.sendall(b"later")
        reached_site_with(site, sent + b"later")


def test_faketls_only_proxy_forwards_plain_obfuscated2(fronted_proxy, site, fake_dc):
    proxy, secret = fronted_proxy(transports=["faketls"])
    key, _ = parse_secret(secret)
    header, _, _ = MTProxyIO.init_header(key, 2, RandomizedIntermediatePacketCodec)
    before = fake_dc.count()
    with send_raw(proxy, bytes(header)):
        reached_site_with(site, bytes(header))
    failed = proxy.wait_action("handshake.failed")
    assert failed.get("event.reason") in ("transport_not_allowed", "malformed"), failed
    proxy.wait_action("probe.forwarded")
    assert fake_dc.count() == before


def test_fronting_disabled_closes_instead(start_proxy, site, new_secret):
    proxy = start_proxy(ee_secret(new_secret), fronting={"enabled": False, "host": "127.0.0.1", "port": site.port})
    with send_raw(proxy, b"GET / HTTP/1.1\r\n\r\n") as sock:
        sock.settimeout(10)
        assert sock.recv(1) == b""
    assert proxy.wait_action("handshake.failed").get("event.reason") == "malformed"
    time.sleep(0.5)
    assert site.snapshot() == []
    assert not any(e.get("event.action") == "probe.forwarded" for e in proxy.events())


def test_secrets_and_client_sni_never_appear_in_output(fronted_proxy, site):
    proxy, secret = fronted_proxy()
    key, _ = parse_secret(secret)
    probe_name = "probe-" + os.urandom(4).hex() + ".example.org"

    async def genuine():
        connection = await FakeTLSConnection.open(proxy.host, proxy.port, secret)
        try:
            assert await connection.round_trip(b"x" * 16) == echo_of(b"x" * 16)
        finally:
            connection.close()

    run(genuine())
    with open_tls(proxy, site, server_name=probe_name, verify=False) as tls:
        assert http_over(tls).endswith(BODY)
    with send_raw(proxy, client_hello(key, probe_name, int(time.time()) - 7200)):
        site.wait_for(lambda connections: len(connections) == 2)
    proxy.wait_event(lambda e: e.get("event.action") == "probe.forwarded" and e.get("event.reason") == "tls_skew")
    texts = {
        "events": open(proxy.events_path, "rb").read(),
        "output": proxy.raw_output(),
        "stats": proxy.http_get("/stats"),
        "metrics": proxy.http_get("/metrics"),
    }
    for where, text in texts.items():
        lowered = text.lower()
        for needle in (secret, secret[2:34], key.hex(), probe_name, DOMAIN):
            assert needle.lower().encode() not in lowered, f"{needle!r} in {where}"
