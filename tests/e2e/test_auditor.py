"""mtauditor beside the real proxy: a flood of bad handshakes is blocked through the proxy's
blocklist while a legitimate client from another loopback address keeps working; and the
daemon alone over event files it is given (reload, drain, restart)."""
import asyncio
import json
import os
import shutil
import signal
import time

import pytest

from harness import client, raw

pytestmark = pytest.mark.mtproxy_only

ABUSER = "127.0.0.5"
USER = "127.0.0.6"
WAIT = 20.0  # bounds the test, not the auditor (the benchmark measures that)


def run(coroutine, timeout=60):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def wait_until(condition, timeout=WAIT, message="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{message} not met within {timeout}s"
        time.sleep(0.05)


def bad_handshake(source_ip, host, port):
    """64 random bytes: not a handshake under any secret; the proxy closes the connection."""
    sock = raw.open_from(source_ip, host, port)
    try:
        sock.sendall(os.urandom(64))
        sock.recv(1)
    except OSError:
        pass
    finally:
        sock.close()


def blocklist_values(path):
    if not os.path.exists(path):
        return set()
    with open(path) as file:
        return {line.strip() for line in file if line.strip() and not line.startswith("#")}


def test_handshake_flood_is_blocked_through_the_proxy_blocklist(start_proxy, start_auditor, new_secret, tmp_path):
    blocklist = str(tmp_path / "blocklist.txt")
    proxy = start_proxy(new_secret, blocklist=blocklist)
    auditor = start_auditor([proxy.events_path], blocklist=blocklist)
    assert run(client.attempt("padded", proxy.host, proxy.port, new_secret, local_addr=USER)) == "relayed"

    # The shipped rule: 20 failed handshakes from one address within a minute.
    for _ in range(25):
        bad_handshake(ABUSER, proxy.host, proxy.port)
    wait_until(lambda: ABUSER in blocklist_values(blocklist), message="the abuser in the blocklist")
    wait_until(lambda: raw.closed_without_a_byte(ABUSER, proxy.host, proxy.port, wait=1.0), message="the abuser refused")
    proxy.wait_event(lambda e: e.get("event.action") == "connection.rejected"
                     and e.get("source.ip") == ABUSER and e.get("event.reason") == "blocklisted")
    assert USER not in blocklist_values(blocklist)
    assert run(client.attempt("padded", proxy.host, proxy.port, new_secret, local_addr=USER)) == "relayed"
    # A Telethon round trip through the proxy, from the legitimate address, after the ban.
    async def telethon_round_trip():
        connection = await client.connect("padded", proxy.host, proxy.port, new_secret, local_addr=USER)
        try:
            return await client.round_trip(connection, b"still here" * 3)
        finally:
            await connection.disconnect()
    assert run(telethon_round_trip()) is not None

    assert auditor.metric("mtauditor_alerts_total", '{rule="handshake-failures-per-ip"}') >= 1
    assert auditor.metric("mtauditor_active_bans") >= 1
    assert auditor.metric("mtauditor_events_read_total") >= 20
    assert "handshake-failures-per-ip" in auditor.output()
    assert auditor.stop() == 0


def event_line(ip, action="handshake.failed", reason="bad_secret"):
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%03dZ" % (int(now * 1000) % 1000)
    return json.dumps({"@timestamp": stamp, "event.action": action, "event.outcome": "failure",
                       "event.reason": reason, "source.ip": ip}) + "\n"


def append(path, text):
    with open(path, "a") as file:
        file.write(text)


RULE = """name: failures
kind: threshold
match: { event.action: handshake.failed }
group_by: [source.ip]
window: 1m
count: COUNT
ban: { duration: DURATION }
"""


def rules_dir(path, count=5, duration="1h"):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "failures.yaml"), "w") as file:
        file.write(RULE.replace("COUNT", str(count)).replace("DURATION", duration))
    return path


def test_sighup_with_a_bad_rule_keeps_the_previous_rules(start_auditor, tmp_path):
    events = str(tmp_path / "events.jsonl")
    blocklist = str(tmp_path / "blocklist.txt")
    open(events, "w").close()
    rules = rules_dir(str(tmp_path / "rules"))
    auditor = start_auditor([events], rules=rules, blocklist=blocklist)

    with open(os.path.join(rules, "broken.yaml"), "w") as file:
        file.write("name: broken\nkind: threshold\nwindow: 1m\ncount: many\n")
    auditor.signal(signal.SIGHUP)
    wait_until(lambda: "rules not reloaded" in auditor.output(), message="the refused reload logged")
    assert "broken.yaml:4: count:" in auditor.output()

    append(events, "".join(event_line("198.51.100.7") for _ in range(5)))
    wait_until(lambda: "198.51.100.7" in blocklist_values(blocklist), message="ban under the previous rules")

    os.remove(os.path.join(rules, "broken.yaml"))
    rules_dir(rules, count=2)
    auditor.signal(signal.SIGHUP)
    wait_until(lambda: "rules reloaded" in auditor.output(), message="the good reload logged")
    append(events, "".join(event_line("198.51.100.8") for _ in range(2)))
    wait_until(lambda: "198.51.100.8" in blocklist_values(blocklist), message="ban under the reloaded rules")
    assert auditor.metric("mtauditor_rule_reload_failures_total") == 1
    assert auditor.stop() == 0


def test_expired_ban_is_lifted_from_the_blocklist(start_auditor, tmp_path):
    events = str(tmp_path / "events.jsonl")
    blocklist = str(tmp_path / "blocklist.txt")
    open(events, "w").close()
    auditor = start_auditor([events], rules=rules_dir(str(tmp_path / "rules"), duration="2s"), blocklist=blocklist,
                            expiry_interval="100ms")
    append(events, "".join(event_line("198.51.100.9") for _ in range(5)))
    wait_until(lambda: "198.51.100.9" in blocklist_values(blocklist), message="ban")
    wait_until(lambda: "198.51.100.9" not in blocklist_values(blocklist), message="expiry")
    assert auditor.stop() == 0


def test_restart_resumes_where_it_stopped_counting_every_event_once(start_auditor, tmp_path):
    events = str(tmp_path / "events.jsonl")
    rules = rules_dir(str(tmp_path / "rules"), count=1000)
    append(events, "".join(event_line("192.0.2.%d" % (i % 7)) for i in range(40)))
    first = start_auditor([events], rules=rules)
    wait_until(lambda: first.metric("mtauditor_events_read_total") == 40, message="40 events read")
    assert first.stop() == 0
    state = first.config["state"]

    append(events, "".join(event_line("192.0.2.1") for _ in range(15)))
    second = start_auditor([events], rules=rules, state=state)
    wait_until(lambda: second.metric("mtauditor_events_read_total") >= 15, message="events after restart")
    time.sleep(0.5)
    assert second.metric("mtauditor_events_read_total") == 15
    append(events, "".join(event_line("192.0.2.4") for _ in range(6)))
    wait_until(lambda: second.metric("mtauditor_events_read_total") == 21, message="appended events")
    assert second.stop() == 0
