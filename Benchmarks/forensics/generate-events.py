#!/usr/bin/env python3
"""Writes event logs of a given total size for the snapshot benchmark: proxy events
(DESIGN.md schema, hashed privacy mode) with timestamps in the hour before now, split
into the live file and four rotated ones, as a proxy that rotates would leave them."""
import datetime
import random
import sys

def main():
    directory, total = sys.argv[1], int(sys.argv[2])
    rng = random.Random(5)
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(minutes=50)
    actions = [("connection.accepted", None), ("handshake.succeeded", None), ("session.closed", None),
               ("handshake.failed", "bad_secret"), ("probe.forwarded", "tls_digest"), ("connection.rejected", "ip_limit")]
    hashes = ["%016x" % rng.getrandbits(64) for _ in range(50000)]
    files = ["events.jsonl.4", "events.jsonl.3", "events.jsonl.2", "events.jsonl.1", "events.jsonl"]
    per_file = total // len(files)
    step = datetime.timedelta(minutes=48) / max(1, total // 230)
    moment = start
    for name in files:
        written = 0
        lines = []
        with open(f"{directory}/{name}", "w") as out:
            while written < per_file:
                action, reason = actions[rng.randrange(len(actions))]
                moment += step
                stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)
                line = ('{"@timestamp":"%s","event.action":"%s",%s"source.ip_hash":"%s","source.prefix":"203.0.%d.0/24",'
                        '"session.id":"%08x","proxy.instance":"bench","proxy.transport":"secure","proxy.dc":%d,'
                        '"bytes.in":%d,"bytes.out":%d}\n') % (
                    stamp, action, ('"event.reason":"%s",' % reason) if reason else "", hashes[rng.randrange(len(hashes))],
                    rng.randrange(256), rng.getrandbits(32), rng.randrange(1, 6), rng.randrange(1 << 20), rng.randrange(1 << 24))
                lines.append(line)
                written += len(line)
                if len(lines) >= 10000:
                    out.write("".join(lines))
                    lines = []
            out.write("".join(lines))

main()
