#!/usr/bin/env python3
"""Detection-to-block latency: from writing the event that crosses a rule's threshold to
mtproxy refusing that address, through a running mtauditor and the proxy's blocklist.

Each trial uses a fresh loopback address (127.0.X.Y): it writes COUNT-1 failed handshakes
for it to an event file the auditor tails, then the crossing one, and from that instant
connects from the address again and again until the proxy closes a connection at once
(a blocklisted address is dropped at accept). Trials are bounded in number and time.

Usage: latency.py MTPROXY MTAUDITOR [TRIALS]       (default 100; prints p50/p90/p99/max)
"""
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

COUNT = 5
PROBE_WAIT = 0.002  # a refused connection reads EOF (or a reset) within this; an open one stays silent
TRIAL_LIMIT = 5.0


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def event(ip):
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%03dZ" % (int(now * 1000) % 1000)
    return json.dumps({"@timestamp": stamp, "event.action": "handshake.failed", "event.outcome": "failure",
                       "event.reason": "bad_secret", "source.ip": ip}) + "\n"


def refused(ip, port):
    """True when the proxy closes a fresh connection from `ip` at once."""
    sock = socket.socket()
    sock.bind((ip, 0))
    sock.settimeout(1.0)
    try:
        sock.connect(("127.0.0.1", port))
        readable, _, _ = select.select([sock], [], [], PROBE_WAIT)
        if not readable:
            return False
        return sock.recv(1) == b""
    except ConnectionError:
        return True
    finally:
        sock.close()


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"latency: {what} did not happen within {timeout}s")
        time.sleep(0.02)


def main():
    mtproxy, mtauditor = sys.argv[1], sys.argv[2]
    trials = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    work = tempfile.mkdtemp(prefix="mtauditor-latency-")
    processes = []
    try:
        port = free_port()
        blocklist = os.path.join(work, "blocklist.txt")
        events = os.path.join(work, "bench.jsonl")
        open(events, "w").close()
        with open(os.path.join(work, "mtproxy.yaml"), "w") as file:
            file.write(f"""instance: bench
listen: ["127.0.0.1:{port}"]
secrets: [{{ name: main, secret: "{os.urandom(16).hex()}" }}]
fronting: {{ enabled: false }}
telegram: {{ dcs: {{ "2": "127.0.0.1:9" }} }}
limits: {{ max_connections_per_ip: 1000, handshake_timeout: 10s }}
blocklist: {blocklist}
events: {{ path: null }}
stats: {{ listen: null }}
allow_root: true
""")
        os.makedirs(os.path.join(work, "rules"))
        with open(os.path.join(work, "rules", "failures.yaml"), "w") as file:
            file.write(f"""name: failures
kind: threshold
match: {{ event.action: handshake.failed }}
group_by: [source.ip]
window: 1m
count: {COUNT}
ban: {{ duration: 1h }}
""")
        with open(os.path.join(work, "mtauditor.yaml"), "w") as file:
            file.write(f"""sources: [{events}]
rules: {os.path.join(work, "rules")}
state: {os.path.join(work, "auditor.sqlite")}
blockers: [{{ proxy: {{ path: {blocklist} }} }}]
metrics: {{ listen: null }}
""")
        proxy_log = open(os.path.join(work, "mtproxy.log"), "wb")
        auditor_log = open(os.path.join(work, "mtauditor.log"), "wb")
        processes.append(subprocess.Popen([mtproxy, "run", "--config", os.path.join(work, "mtproxy.yaml")],
                                          stdout=proxy_log, stderr=proxy_log, stdin=subprocess.DEVNULL))
        processes.append(subprocess.Popen([mtauditor, "run", "--config", os.path.join(work, "mtauditor.yaml"),
                                           "--log-level", "warning"],
                                          stdout=auditor_log, stderr=auditor_log, stdin=subprocess.DEVNULL))

        def accepting():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return True
            except OSError:
                return False
        wait_for(accepting, 30, "mtproxy accepting")
        time.sleep(0.5)  # the auditor's start-up

        latencies = []
        with open(events, "a", buffering=1) as log:
            for trial in range(trials):
                ip = f"127.0.{1 + trial // 250}.{1 + trial % 250}"
                assert not refused(ip, port), f"{ip} refused before its trial"
                log.write("".join(event(ip) for _ in range(COUNT - 1)))
                log.flush()
                time.sleep(0.05)  # those events are read before the clock starts
                line = event(ip)
                start = time.perf_counter()
                log.write(line)
                log.flush()
                while not refused(ip, port):
                    if time.perf_counter() - start > TRIAL_LIMIT:
                        raise SystemExit(f"latency: {ip} not refused within {TRIAL_LIMIT}s (trial {trial})")
                latencies.append((time.perf_counter() - start) * 1000)

        latencies.sort()

        def percentile(p):
            return latencies[min(len(latencies) - 1, int(round(p / 100 * (len(latencies) - 1))))]
        print(f"detection-to-block latency over {len(latencies)} trials (event written -> proxy refuses the address): "
              f"p50 {percentile(50):.1f} ms, p90 {percentile(90):.1f} ms, p99 {percentile(99):.1f} ms, "
              f"max {latencies[-1]:.1f} ms, min {latencies[0]:.1f} ms")
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
