#!/usr/bin/env python3
"""Writes a large, realistic event log for the auditor benchmark.

Usage: generate-events.py COUNT OUT.jsonl

A mix of routine traffic (accepted connections, handshakes, closed sessions, under
minimized privacy: ip_hash and prefix) and abuse (failed handshakes, probes, limit hits,
replays) from a pool of addresses, in timestamp order over about an hour per million
events. Deterministic: the same COUNT gives the same file.
"""
import json
import random
import sys
from datetime import datetime, timedelta, timezone

count, out = int(sys.argv[1]), sys.argv[2]
random.seed(42)
start = datetime(2026, 6, 1, tzinfo=timezone.utc)
step_ms = 3_600_000 / 1_000_000
clients = [f"100.{64 + i // 65536 % 64}.{i // 256 % 256}.{i % 256 + 1 if i % 256 < 254 else 1}" for i in range(50_000)]
hashes = {ip: f"{random.getrandbits(128):032x}" for ip in clients}
attackers = [f"203.0.113.{i}" for i in range(1, 200)] + [f"198.51.100.{i}" for i in range(1, 200)]
reasons = ["bad_secret", "unknown_tag", "tls_digest", "timeout", "closed_early", "malformed", "replay"]


def stamp(ms):
    t = start + timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


with open(out, "w") as f:
    for n in range(count):
        ms = int(n * step_ms)
        roll = random.random()
        if roll < 0.70:
            ip = random.choice(clients)
            action = random.choice(["connection.accepted", "handshake.succeeded", "session.closed"])
            event = {"@timestamp": stamp(ms), "event.action": action, "source.ip_hash": hashes[ip],
                     "source.prefix": ip.rsplit(".", 1)[0] + ".0/24", "session.id": f"{n:016x}",
                     "proxy.instance": "bench", "proxy.transport": "faketls", "schema.version": 1}
            if action == "session.closed":
                event.update({"network.bytes_in": random.randint(1, 4096) * 1024, "network.bytes_out": random.randint(1, 65536) * 1024,
                              "event.duration_ms": random.randint(1, 3600) * 1000, "event.reason": "client_closed"})
        elif roll < 0.93:
            ip = random.choice(attackers if random.random() < 0.5 else clients)
            event = {"@timestamp": stamp(ms), "event.action": "handshake.failed", "event.outcome": "failure",
                     "event.reason": random.choice(reasons), "source.ip": ip, "source.port": random.randint(1024, 65535),
                     "session.id": f"{n:016x}", "proxy.instance": "bench", "proxy.transport": "faketls",
                     "event.duration_ms": random.randint(0, 10000), "schema.version": 1}
        elif roll < 0.97:
            ip = random.choice(attackers)
            event = {"@timestamp": stamp(ms), "event.action": "probe.forwarded", "source.ip": ip,
                     "session.id": f"{n:016x}", "proxy.instance": "bench", "schema.version": 1}
        else:
            ip = random.choice(attackers)
            event = {"@timestamp": stamp(ms), "event.action": "connection.rejected",
                     "event.reason": random.choice(["ip_limit", "rate_limit", "blocklisted"]), "source.ip": ip,
                     "proxy.instance": "bench", "schema.version": 1}
        f.write(json.dumps(event, separators=(",", ":")) + "\n")
