#!/usr/bin/env python3
"""CrowdSec beside mtauditor, in the same run, on the same events.

Usage: peer.py --auditor MTAUDITOR --rules DIR --work DIR LINES.jsonl
               [--distinct FAILURES.jsonl IDLE.jsonl] [--latency TRIALS]

Runs CrowdSec (the Debian package's `crowdsec` and `cscli`, 1.4.x) with its own
configuration, data and hub directories under WORK/crowdsec, from the parser and scenario
beside this file: a Local API of its own on 127.0.0.1 (`crowdsec -no-cs`, no Central API),
and the agent (`crowdsec -no-api`) replaying files with `-dsn file://… -type mtproxy`.

1. Check: a short log in which one address crosses the threshold and two do not; CrowdSec
   must overflow for that address alone, and mtauditor's rule must alert for it alone.
2. Throughput over LINES, pinned to one core (`taskset -c 0`), CPU = user + sys: mtauditor
   with all the rules of DIR, with the one equivalent rule, and CrowdSec. CrowdSec's
   Prometheus counters, read just before it exits, must show every line read and every
   failed handshake parsed and poured, else there is no figure.
3. Memory per tracked source (--distinct): CrowdSec's peak RSS over N distinct failing
   sources minus its peak RSS over N lines that no scenario counts, divided by N.
4. Detection-to-decision latency (--latency): the agent follows a file; for each trial a
   fresh address's 20th failure is written, at a random instant, and the Local API is
   polled until it holds a decision for the address.

Every CrowdSec run is bounded in time (RUN_LIMIT); the processes it starts are its own,
stopped by their pid. Exits 0 with a message when CrowdSec is not installed.
"""
import argparse
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
RULE = "handshake-failures-per-ip"
COUNTED = {b"bad_secret", b"unknown_tag", b"transport_not_allowed", b"unknown_dc", b"tls_digest", b"tls_skew", b"malformed"}
THRESHOLD = 20       # failures from one address that cross the rule (count: 20) and overflow the bucket (capacity: 19)
RUN_LIMIT = 1800     # seconds, any one CrowdSec run
TRIAL_LIMIT = 5.0    # seconds, any one latency trial


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load():
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def stamp(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%03dZ" % (int(seconds * 1000) % 1000)


def failure(seconds, ip, reason="bad_secret"):
    return json.dumps({"@timestamp": stamp(seconds), "event.action": "handshake.failed", "event.outcome": "failure",
                       "event.reason": reason, "source.ip": ip, "proxy.instance": "bench", "schema.version": 1},
                      separators=(",", ":")) + "\n"


def measured(command, time_file, log_path, on_tick=None):
    """Runs `command` under /usr/bin/time; returns (wall, cpu, max RSS KiB). `on_tick(log
    text so far)` is called every 0.1 s while it runs."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(["/usr/bin/time", "-f", "%e %U %S %M", "-o", time_file] + command,
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        deadline = time.monotonic() + RUN_LIMIT
        while process.poll() is None:
            if time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise SystemExit(f"crowdsec peer: {' '.join(command[:3])}… ran over {RUN_LIMIT}s, stopped")
            if on_tick:
                with open(log_path, "rb") as text:
                    on_tick(text.read())
            time.sleep(0.1)
    with open(time_file) as file:
        wall, user, system, rss = file.read().split()[-4:]
    return float(wall), float(user) + float(system), int(rss)


def scrape(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    totals = {}
    for line in text.splitlines():
        match = re.match(r"^(cs_[a-z_]+)(?:\{[^}]*\})? (\S+)$", line)
        if match:
            totals[match.group(1)] = totals.get(match.group(1), 0) + float(match.group(2))
    return totals


class CrowdSec:
    """One CrowdSec instance in its own directory: a Local API on loopback and agent runs."""

    def __init__(self, work):
        self.crowdsec, self.cscli = shutil.which("crowdsec"), shutil.which("cscli")
        self.dir = os.path.join(os.path.abspath(work), "crowdsec")
        self.lapi_port, self.metrics_port = free_port(), free_port()
        self.lapi = None
        self.runs = 0

    def version(self):
        out = subprocess.run([self.crowdsec, "-version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True).stdout
        match = re.search(r"version: (\S+)", out)
        return match.group(1) if match else "unknown version"

    def set_up(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        etc = os.path.join(self.dir, "etc")
        for sub in ("data", "hub", "live", "runs"):
            os.makedirs(os.path.join(self.dir, sub))
        shutil.copytree(os.path.join(HERE, "parsers"), os.path.join(etc, "parsers"))
        shutil.copytree(os.path.join(HERE, "scenarios"), os.path.join(etc, "scenarios"))
        # The grok pattern library every CrowdSec loads at start (ours uses none of it).
        shutil.copytree("/etc/crowdsec/patterns", os.path.join(etc, "patterns"))
        shutil.copy(os.path.join(HERE, "profiles.yaml"), etc)
        for name in ("agent.yaml", "lapi.yaml", "acquis.yaml"):
            with open(os.path.join(HERE, name + ".in")) as file:
                text = file.read()
            text = (text.replace("@DIR@", self.dir).replace("@LAPI_PORT@", str(self.lapi_port))
                    .replace("@METRICS_PORT@", str(self.metrics_port)))
            with open(os.path.join(etc, name), "w") as file:
                file.write(text)
        with open(os.path.join(etc, "simulation.yaml"), "w") as file:
            file.write("simulation: false\n")
        with open(os.path.join(self.dir, "hub", ".index.json"), "w") as file:
            json.dump({"collections": {}, "parsers": {}, "postoverflows": {}, "scenarios": {}}, file)
        open(os.path.join(self.dir, "live", "events.jsonl"), "w").close()
        self.cli("machines", "add", "bench", "--password", secrets.token_hex(16),
                 "-f", os.path.join(etc, "local_api_credentials.yaml"))

    def cli(self, *args):
        result = subprocess.run([self.cscli, "-c", os.path.join(self.dir, "etc", "lapi.yaml"), "--error", *args],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise SystemExit(f"crowdsec peer: cscli {' '.join(args[:2])} failed: {result.stderr.strip()}")
        return result.stdout

    def start_api(self):
        log = open(os.path.join(self.dir, "lapi.log"), "wb")
        self.lapi = subprocess.Popen([self.crowdsec, "-c", os.path.join(self.dir, "etc", "lapi.yaml"), "-no-cs"],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.lapi_port), timeout=0.5).close()
                return
            except OSError:
                if self.lapi.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"crowdsec peer: its Local API did not start (see {self.dir}/lapi.log)")
                time.sleep(0.1)

    def stop(self, process):
        if process and process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def replay(self, path, pinned):
        """One agent run over `path` in time-machine mode: (wall, cpu, rss KiB, counters, overflows)."""
        self.runs += 1
        base = os.path.join(self.dir, "runs", str(self.runs))
        counters = {}

        def on_tick(text):
            # The counters are read after the file is read to its end, until the agent exits.
            if b"Acquisition is finished" in text:
                now = scrape(self.metrics_port)
                if now:
                    counters.clear()
                    counters.update(now)
        command = (["taskset", "-c", "0"] if pinned else []) + [
            self.crowdsec, "-c", os.path.join(self.dir, "etc", "agent.yaml"),
            "-dsn", "file://" + os.path.abspath(path), "-type", "mtproxy", "-no-api"]
        wall, cpu, rss = measured(command, base + ".time", base + ".log", on_tick)
        with open(base + ".log", "rb") as file:
            text = file.read().decode(errors="replace")
        if "crowdsec shutdown" not in text:
            raise SystemExit(f"crowdsec peer: the agent did not finish {path} (see {base}.log)")
        overflows = re.findall(r"Ip (\S+) performed '([^']+)'", text)
        return wall, cpu, rss, counters, overflows


def expected(path):
    """(lines, failed handshakes, failed handshakes for a counted reason) in `path`."""
    lines = failed = counted = 0
    with open(path, "rb") as file:
        for line in file:
            lines += 1
            if b'"event.action":"handshake.failed"' in line:
                failed += 1
                reason = line.partition(b'"event.reason":"')[2].partition(b'"')[0]
                counted += reason in COUNTED
    return lines, failed, counted


def auditor_alerts(auditor, rules, path, out):
    """mtauditor replay over `path`, pinned: (wall, cpu, max RSS KiB, addresses alerted by RULE)."""
    wall, cpu, rss = measured(["taskset", "-c", "0", auditor, "replay", "--rules", rules, path], out + ".time", out)
    alerted = []
    with open(out, "rb") as file:
        for line in file:
            if line.startswith(b'{"type":"alert"') and b'"rule":"%s"' % RULE.encode() in line:
                alerted.extend(re.findall(rb'"source\.ip":"([^"]+)"', line)[:1])
    return wall, cpu, rss, [ip.decode() for ip in alerted]


def rate(count, seconds):
    return f"{count / seconds:.0f}" if seconds > 0 else "-"


def check(crowdsec, auditor, one_rule, work):
    path = os.path.join(work, "crowdsec-check.jsonl")
    t = 1_780_000_000.0
    with open(path, "w") as file:
        for i in range(25):
            file.write(failure(t + i * 0.5, "203.0.113.50"))                 # crosses at its 20th, 9.5 s in
            file.write(failure(t + i * 0.5 + 0.1, "203.0.113.60", "timeout"))  # a reason the rule does not count
            if i < 10:
                file.write(failure(t + i * 0.5 + 0.2, "198.51.100.7"))      # too few
    wall, cpu, _, counters, overflows = crowdsec.replay(path, pinned=True)
    _, _, _, alerted = auditor_alerts(auditor, one_rule, path, os.path.join(work, "crowdsec-check.mtauditor"))
    flagged = sorted({ip for ip, _ in overflows})
    # A replayed alert's ban runs from the event's time, so it has expired already: the
    # alerts hold it.
    alerts = json.loads(crowdsec.cli("alerts", "list", "-o", "json") or "null") or []
    banned = sorted({d["value"] for alert in alerts for d in alert.get("decisions") or [] if d["type"] == "ban"})
    same = flagged == banned == ["203.0.113.50"] and sorted(set(alerted)) == ["203.0.113.50"]
    print(f"crowdsec check ({sum(1 for _ in open(path))} lines, 203.0.113.50 alone crosses): "
          f"crowdsec overflowed {len(overflows)} time(s) for {', '.join(flagged) or 'nobody'}, "
          f"bans in its Local API for {', '.join(banned) or 'nobody'}; mtauditor ({RULE}) alerted "
          f"{len(alerted)} time(s) for {', '.join(sorted(set(alerted))) or 'nobody'}: {'same' if same else 'DIFFERENT'}")
    if not same:
        raise SystemExit("crowdsec peer: the check failed, no figure")
    return cpu, counters


def throughput(crowdsec, auditor, rules, one_rule, lines_path, work, start_cpu):
    lines, failed, counted = expected(lines_path)
    rule_count = len([f for f in os.listdir(rules) if f.endswith(".yaml")])
    print(f"crowdsec peer: {load()}")
    awall, acpu, arss = measured(["taskset", "-c", "0", auditor, "replay", "--rules", rules, lines_path],
                              os.path.join(work, "crowdsec-mtauditor.time"), os.devnull)
    owall, ocpu, orss, alerted = auditor_alerts(auditor, one_rule, lines_path, os.path.join(work, "crowdsec-one-rule.out"))
    wall, cpu, rss, counters, overflows = crowdsec.replay(lines_path, pinned=True)
    print(f"mtauditor replay: first {lines} lines, {rule_count} rules, one core: {awall:.2f}s wall, {acpu:.2f}s cpu: "
          f"{rate(lines, awall)} events/s wall, {rate(lines, acpu)} events/s cpu; peak RSS {arss / 1024:.0f} MiB")
    print(f"mtauditor replay: first {lines} lines, 1 rule ({RULE}), one core: {owall:.2f}s wall, {ocpu:.2f}s cpu: "
          f"{rate(lines, owall)} events/s wall, {rate(lines, ocpu)} events/s cpu; peak RSS {orss / 1024:.0f} MiB; "
          f"{len(alerted)} alerts")
    print(f"crowdsec {crowdsec.version()}: first {lines} lines, 1 parser + 1 scenario, one core: {wall:.2f}s wall, "
          f"{cpu:.2f}s cpu: {rate(lines, wall)} lines/s wall, {rate(lines, cpu)} lines/s cpu "
          f"({rate(lines, cpu - start_cpu)} lines/s cpu without its start-up of {start_cpu:.2f}s); peak RSS {rss / 1024:.0f} MiB")
    read, parsed = counters.get("cs_filesource_hits_total", 0), counters.get("cs_parser_hits_ok_total", 0)
    poured = counters.get("cs_bucket_poured_total", 0)
    print(f"crowdsec counters: {read:.0f} lines read (of {lines}), {parsed:.0f} parsed (failed handshakes: {failed}), "
          f"{poured:.0f} poured (counted reasons: {counted}), {counters.get('cs_bucket_created_total', 0):.0f} buckets, "
          f"{counters.get('cs_bucket_overflowed_total', 0):.0f} overflows ({len(overflows)} in its log)")
    if not counters or read != lines or parsed != failed or poured != counted:
        raise SystemExit("crowdsec peer: CrowdSec did not read, parse and bucket every line: no figure")
    print(f"ratio on the same {lines} lines: mtauditor ({rule_count} rules) is {cpu / acpu:.1f}x crowdsec (cpu), "
          f"{wall / awall:.1f}x (wall); mtauditor (1 rule) is {cpu / ocpu:.1f}x (cpu), {wall / owall:.1f}x (wall)")
    print(f"crowdsec peer: {load()}")


def memory(crowdsec, failures_path, idle_path):
    with open(failures_path, "rb") as file:
        addresses = [line.partition(b'"source.ip":"')[2].partition(b'"')[0] for line in file]
    sources, distinct = len(addresses), len(set(addresses))
    _, _, idle, _, _ = crowdsec.replay(idle_path, pinned=False)
    _, _, held, counters, _ = crowdsec.replay(failures_path, pinned=False)
    buckets = counters.get("cs_bucket_created_total", 0)
    # Divided by the lines, as run.sh does for mtauditor (a few generated addresses repeat).
    print(f"crowdsec memory per tracked source (failures, {sources} sources): peak RSS {held / 1024:.1f} MiB - "
          f"baseline {idle / 1024:.1f} MiB = {(held - idle) * 1024 / sources:.0f} bytes per source "
          f"({buckets:.0f} buckets for {distinct} distinct addresses)")
    if buckets != distinct:
        raise SystemExit("crowdsec peer: CrowdSec did not hold one bucket per address: no figure")


def latency(crowdsec, trials):
    key = secrets.token_hex(16)
    crowdsec.cli("bouncers", "add", "bench-latency", "-k", key)
    log = open(os.path.join(crowdsec.dir, "agent-live.log"), "wb")
    agent = subprocess.Popen([crowdsec.crowdsec, "-c", os.path.join(crowdsec.dir, "etc", "agent.yaml"), "-no-api"],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def decided(ip):
        request = urllib.request.Request(f"http://127.0.0.1:{crowdsec.lapi_port}/v1/decisions?ip={ip}",
                                         headers={"X-Api-Key": key})
        with urllib.request.urlopen(request, timeout=2) as response:
            return json.loads(response.read() or b"null") not in (None, [])
    try:
        deadline = time.monotonic() + 60
        while b"Starting processing data" not in open(log.name, "rb").read():
            if agent.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"crowdsec peer: the live agent did not start (see {log.name})")
            time.sleep(0.1)
        time.sleep(1.0)  # the file is being followed
        latencies, phase = [], random.Random(1)
        print(f"crowdsec peer: {load()}")
        with open(os.path.join(crowdsec.dir, "live", "events.jsonl"), "a", buffering=1) as events:
            for trial in range(trials):
                ip = f"127.1.{1 + trial // 250}.{1 + trial % 250}"
                assert not decided(ip), f"{ip} decided before its trial"
                events.write("".join(failure(time.time(), ip) for _ in range(THRESHOLD - 1)))
                events.flush()
                # Those events are read before the clock starts; the random part keeps the
                # trials from keeping step with the agent's 1 s push of its alerts.
                time.sleep(0.05 + phase.uniform(0, 1))
                line = failure(time.time(), ip)
                start = time.perf_counter()
                events.write(line)
                events.flush()
                while not decided(ip):
                    if time.perf_counter() - start > TRIAL_LIMIT:
                        raise SystemExit(f"crowdsec peer: no decision for {ip} within {TRIAL_LIMIT}s (trial {trial})")
                    time.sleep(0.002)
                latencies.append((time.perf_counter() - start) * 1000)
        latencies.sort()

        def percentile(p):
            return latencies[min(len(latencies) - 1, int(round(p / 100 * (len(latencies) - 1))))]
        print(f"crowdsec detection-to-decision latency over {len(latencies)} trials (20th failure written -> decision "
              f"in its Local API): p50 {percentile(50):.1f} ms, p90 {percentile(90):.1f} ms, "
              f"p99 {percentile(99):.1f} ms, max {latencies[-1]:.1f} ms, min {latencies[0]:.1f} ms")
        print(f"crowdsec peer: {load()}")
    finally:
        crowdsec.stop(agent)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--auditor", required=True)
    parser.add_argument("--rules", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--distinct", nargs=2, metavar=("FAILURES", "IDLE"))
    parser.add_argument("--latency", type=int, metavar="TRIALS", default=0)
    parser.add_argument("lines")
    args = parser.parse_args()
    crowdsec = CrowdSec(args.work)
    if not crowdsec.crowdsec or not crowdsec.cscli:
        print("crowdsec not installed: no CrowdSec figure (Benchmarks/auditor/crowdsec/install.sh)")
        return
    if not os.path.isdir("/etc/crowdsec/patterns"):
        raise SystemExit("crowdsec peer: /etc/crowdsec/patterns missing (the crowdsec package's grok patterns)")
    one_rule = os.path.join(args.work, "crowdsec-one-rule")
    shutil.rmtree(one_rule, ignore_errors=True)
    os.makedirs(one_rule)
    shutil.copy(os.path.join(args.rules, RULE + ".yaml"), one_rule)
    crowdsec.set_up()
    try:
        crowdsec.start_api()
        start_cpu, _ = check(crowdsec, args.auditor, one_rule, args.work)
        throughput(crowdsec, args.auditor, args.rules, one_rule, args.lines, args.work, start_cpu)
        if args.distinct:
            memory(crowdsec, *args.distinct)
        if args.latency:
            latency(crowdsec, args.latency)
    finally:
        crowdsec.stop(crowdsec.lapi)


if __name__ == "__main__":
    main()
