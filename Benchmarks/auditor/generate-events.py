#!/usr/bin/env python3
"""Writes a large, realistic event log for the auditor benchmark.

Usage: generate-events.py COUNT OUT.jsonl [SOURCES]
       generate-events.py --distinct SOURCES OUT.jsonl {failures|connections|idle}

The first form: a mix of routine traffic (accepted connections, handshakes, closed
sessions, under minimized privacy: ip_hash and prefix) and abuse (failed handshakes,
probes, limit hits, replays) from SOURCES client addresses (default 50 000) and a pool
of about 400 abusers, in timestamp order over about an hour per million events.
Deterministic: the same arguments give the same file.

The second form, for memory per tracked source: one event from each of SOURCES distinct
sources within 50 seconds of event time (inside every rule's window, so none is
forgotten): failed handshakes with `source.ip` (`failures`), accepted connections with
`source.ip_hash` (`connections`), or the same number of events that no rule counts
(`idle`, the baseline).
"""
import random
import sys
from datetime import datetime, timezone

START_MS = int(datetime(2026, 6, 1, tzinfo=timezone.utc).timestamp() * 1000)


def stamp(ms):
    t = datetime.fromtimestamp((START_MS + ms) / 1000, tz=timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{(START_MS + ms) % 1000:03d}Z"


class Clock:
    """Event-time text, re-formatted only when the second changes."""

    def __init__(self):
        self.second, self.prefix = None, ""

    def __call__(self, ms):
        second = (START_MS + ms) // 1000
        if second != self.second:
            self.second = second
            self.prefix = datetime.fromtimestamp(second, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
        return f"{self.prefix}{(START_MS + ms) % 1000:03d}Z"


def address(i):
    return f"100.{64 + (i >> 16) % 64}.{(i >> 8) & 255}.{(i & 255) or 1}"


def mixed(count, out, sources):
    random.seed(42)
    step_ms = 3_600_000 / 1_000_000
    clients = [address(i) for i in range(sources)]
    hashes = [f"{random.getrandbits(128):032x}" for _ in clients]
    prefixes = [ip.rsplit(".", 1)[0] + ".0/24" for ip in clients]
    attackers = [f"203.0.113.{i}" for i in range(1, 200)] + [f"198.51.100.{i}" for i in range(1, 200)]
    reasons = ["bad_secret", "unknown_tag", "tls_digest", "timeout", "closed_early", "malformed", "replay"]
    routine = ["connection.accepted", "handshake.succeeded", "session.closed"]
    clock = Clock()
    rnd, choice, randint = random.random, random.choice, random.randint
    with open(out, "w", buffering=1 << 20) as f:
        write = f.write
        for n in range(count):
            ts = clock(int(n * step_ms))
            roll = rnd()
            if roll < 0.70:
                c = int(rnd() * sources)
                action = choice(routine)
                head = (f'{{"@timestamp":"{ts}","event.action":"{action}","source.ip_hash":"{hashes[c]}",'
                        f'"source.prefix":"{prefixes[c]}","session.id":"{n:016x}","proxy.instance":"bench",'
                        f'"proxy.transport":"faketls"')
                if action == "session.closed":
                    write(f'{head},"event.reason":"client_closed","network.bytes_in":{randint(1, 4096) * 1024},'
                          f'"network.bytes_out":{randint(1, 65536) * 1024},"event.duration_ms":{randint(1, 3600) * 1000},'
                          f'"schema.version":1}}\n')
                else:
                    write(head + ',"schema.version":1}\n')
            elif roll < 0.93:
                ip = choice(attackers) if rnd() < 0.5 else clients[int(rnd() * sources)]
                write(f'{{"@timestamp":"{ts}","event.action":"handshake.failed","event.outcome":"failure",'
                      f'"event.reason":"{choice(reasons)}","source.ip":"{ip}","source.port":{randint(1024, 65535)},'
                      f'"session.id":"{n:016x}","proxy.instance":"bench","proxy.transport":"faketls",'
                      f'"event.duration_ms":{randint(0, 10000)},"schema.version":1}}\n')
            elif roll < 0.97:
                write(f'{{"@timestamp":"{ts}","event.action":"probe.forwarded","source.ip":"{choice(attackers)}",'
                      f'"session.id":"{n:016x}","proxy.instance":"bench","schema.version":1}}\n')
            else:
                write(f'{{"@timestamp":"{ts}","event.action":"connection.rejected",'
                      f'"event.reason":"{choice(["ip_limit", "rate_limit", "blocklisted"])}","source.ip":"{choice(attackers)}",'
                      f'"proxy.instance":"bench","schema.version":1}}\n')


def distinct(sources, out, shape):
    random.seed(7)
    clock = Clock()
    with open(out, "w", buffering=1 << 20) as f:
        for i in range(sources):
            ts = clock(i * 50_000 // sources)
            if shape == "failures":
                f.write(f'{{"@timestamp":"{ts}","event.action":"handshake.failed","event.outcome":"failure",'
                        f'"event.reason":"bad_secret","source.ip":"{address(i)}","session.id":"{i:016x}",'
                        f'"proxy.instance":"bench","schema.version":1}}\n')
            elif shape == "connections":
                f.write(f'{{"@timestamp":"{ts}","event.action":"connection.accepted","source.ip_hash":"{random.getrandbits(128):032x}",'
                        f'"source.prefix":"{address(i).rsplit(".", 1)[0]}.0/24","session.id":"{i:016x}","proxy.instance":"bench","schema.version":1}}\n')
            else:
                f.write(f'{{"@timestamp":"{ts}","event.action":"session.closed","event.reason":"client_closed",'
                        f'"source.ip":"{address(i)}","session.id":"{i:016x}","proxy.instance":"bench","schema.version":1}}\n')


if sys.argv[1] == "--distinct":
    distinct(int(sys.argv[2]), sys.argv[3], sys.argv[4])
else:
    mixed(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 50_000)
