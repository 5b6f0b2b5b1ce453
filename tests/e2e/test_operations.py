"""Day-to-day operations against the real binaries: secret rotation with a grace period,
`make start/status/logs/reload/restart/stop`, and `make backup/restore`."""
import asyncio
import json
import os
import pathlib
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import DC_IDS, ROOT
from harness import client, raw
from harness.proxy import free_port, to_yaml

pytestmark = pytest.mark.mtproxy_only


def run(coroutine, timeout=90):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def attempt(proxy_host, port, key_hex):
    # "dd" + key: Telethon strips one leading dd, so a key that itself starts with dd survives.
    return run(client.attempt("padded", proxy_host, port, "dd" + key_hex))


def secrets_in(path):
    """name -> (key hex, retires_at or None), read from the file as rotate left it."""
    text = pathlib.Path(path).read_text()
    found = {}
    for block in re.split(r"\n\s*- ", text)[1:]:
        name = re.search(r'"?name"?:\s*"?([\w.\-]+)"?', block)
        secret = re.search(r'"?secret"?:\s*"?(?:dd)?([0-9a-f]{32})"?', block)
        retires = re.search(r"retires_at:\s*(\S+)", block)
        if name and secret:
            found[name.group(1)] = (secret.group(1), retires.group(1) if retires else None)
    return found


def epoch(rfc3339):
    return time.mktime(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone


def test_rotation_serves_both_secrets_during_the_grace_period_then_only_the_new_one(
        start_proxy, new_secret, mtproxy_binary):
    proxy = start_proxy(new_secret)
    assert attempt(proxy.host, proxy.port, new_secret) == "relayed"

    grace = 10
    rotated = subprocess.run(
        [mtproxy_binary, "secret", "rotate", "--config", proxy.config_path, "--grace", f"{grace}s",
         "--server", "127.0.0.1"],
        capture_output=True, text=True, timeout=60)
    assert rotated.returncode == 0, rotated.stderr
    secrets = secrets_in(proxy.config_path)
    assert len(secrets) == 2, secrets
    new_key, new_retires = secrets["main"]
    retiring = [name for name in secrets if name != "main"][0]
    old_key, retires_at = secrets[retiring]
    assert old_key == new_secret and new_key != new_secret and new_retires is None
    assert retiring.startswith("main.retiring-")
    assert new_key in rotated.stdout, "the new links are printed"
    assert new_secret not in rotated.stdout and new_secret not in rotated.stderr

    proxy.signal(signal.SIGHUP)
    event = proxy.wait_action("secret.rotated", timeout=20)
    assert event.get("mt.secret") == "main" and event.get("labels.retiring") == retiring

    # During the grace period both secrets are served.
    assert attempt(proxy.host, proxy.port, new_key) == "relayed"
    assert attempt(proxy.host, proxy.port, old_key) == "relayed"
    assert time.time() < epoch(retires_at), "the machine was too slow to test inside the grace period"

    # After it, without any reload, only the new one.
    proxy.wait_action("secret.retired", timeout=grace + 20, **{"mt.secret": retiring})
    assert attempt(proxy.host, proxy.port, old_key) != "relayed"
    proxy.wait_event(lambda e: e.get("event.action") == "handshake.failed" and e.get("event.reason") == "bad_secret",
                     timeout=10)
    assert attempt(proxy.host, proxy.port, new_key) == "relayed"

    raw = proxy.raw_output() + pathlib.Path(proxy.events_path).read_bytes()
    for key in (old_key, new_key):
        assert key.encode() not in raw, "a secret appeared in the proxy's output or events"

    # The next rotation removes the expired entry from the file.
    again = subprocess.run([mtproxy_binary, "secret", "rotate", "--config", proxy.config_path, "--server", "127.0.0.1"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert f"removed {retiring}" in again.stdout
    assert retiring not in secrets_in(proxy.config_path)


# ---- make targets -------------------------------------------------------------------


def make(*arguments, timeout=120):
    return subprocess.run(["make", "-s", "-C", str(ROOT), *arguments], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def run_dir(tmp_path, fake_dc, mtproxy_binary, mtauditor_binary):
    """A RUN_DIR with a configuration on 127.0.0.1 (as `make run` would reuse it), and the
    make variables pointing at it (the auditor beside the proxy on a free metrics port).
    Stops whatever is left running at teardown."""
    directory = tmp_path / "run"
    directory.mkdir()
    port, stats = free_port(), free_port()
    config = {
        "instance": "ops",
        "listen": [f"127.0.0.1:{port}"],
        "secrets": [{"name": "main", "secret": None}],
        "fronting": {"enabled": False},
        "telegram": {"dcs": {str(dc): fake_dc.endpoint(dc) for dc in DC_IDS}},
        "stats": {"listen": f"127.0.0.1:{stats}"},
        "allow_root": True,
    }
    variables = [f"RUN_DIR={directory}", f"MTPROXY={mtproxy_binary}",
                 f"MTFORENSICS={pathlib.Path(mtproxy_binary).parent / 'mtforensics'}",
                 f"BACKUP_DIR={tmp_path / 'backups'}", f"PORT={port}", f"STATS=127.0.0.1:{stats}",
                 f"MTAUDITOR={mtauditor_binary}", f"AUDITOR_METRICS=127.0.0.1:{free_port()}"]
    yield directory, config, port, variables
    make("stop", *variables, timeout=60)


def make_environment(variables):
    """The environment the Makefile gives its scripts (it exports the auditor's variables)."""
    exported = {"MTAUDITOR", "AUDITOR_METRICS", "AUDITOR"}
    return dict(os.environ, **{k: v for k, v in (item.split("=", 1) for item in variables) if k in exported})


def write_config(directory, config, key):
    config = dict(config, secrets=[{"name": "main", "secret": key}])
    (directory / "mtproxy.yaml").write_text("# written by the test\n" + to_yaml(config))


def events_in(directory):
    path = directory / "events.jsonl"
    return path.read_text() if path.exists() else ""


def test_make_start_status_logs_reload_restart_stop(run_dir, new_secret):
    directory, config, port, variables = run_dir
    write_config(directory, config, new_secret)

    started = make("start", *variables)
    assert started.returncode == 0, started.stdout + started.stderr
    pid = int((directory / "mtproxy.pid").read_text())
    os.kill(pid, 0)
    assert attempt("127.0.0.1", port, new_secret) == "relayed"

    status = make("status", *variables)
    assert status.returncode == 0, status.stderr
    assert f"pid {pid}" in status.stdout
    assert re.search(r"connections active \d+\s+total [1-9]", status.stdout), status.stdout

    deadline = time.monotonic() + 20
    while "handshake.succeeded" not in events_in(directory) and time.monotonic() < deadline:
        time.sleep(0.1)
    logs = make("logs", "N=50", *variables)
    assert logs.returncode == 0, logs.stderr
    assert re.search(r"^\d{4}-\d\d-\d\dT[\d:.]+Z\s+proxy\.started", logs.stdout, re.M), logs.stdout
    assert "handshake.succeeded" in logs.stdout and "secret=main" in logs.stdout
    proxy_logs = make("logs", "N=1", *variables).stdout.split("--- mtauditor")[0]
    assert len(proxy_logs.strip().splitlines()) == 1

    reloaded = make("reload", *variables)
    assert reloaded.returncode == 0, reloaded.stderr
    deadline = time.monotonic() + 20
    while "config.reloaded" not in events_in(directory) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "config.reloaded" in events_in(directory)

    restarted = make("restart", *variables)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    new_pid = int((directory / "mtproxy.pid").read_text())
    assert new_pid != pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert attempt("127.0.0.1", port, new_secret) == "relayed"

    again = make("start", *variables)
    assert again.returncode != 0 and "already running" in again.stderr

    stopped = make("stop", *variables)
    assert stopped.returncode == 0, stopped.stderr
    assert not (directory / "mtproxy.pid").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(new_pid, 0)
    assert make("status", *variables).returncode != 0
    assert "mtproxy is not running" in make("stop", *variables).stdout


def test_make_backup_and_restore(run_dir, new_secret, tmp_path):
    directory, config, port, variables = run_dir
    write_config(directory, config, new_secret)
    config_path = directory / "mtproxy.yaml"
    original = config_path.read_bytes()

    backup = make("backup", *variables)
    assert backup.returncode == 0, backup.stderr
    backups = tmp_path / "backups"
    latest = backups / "latest"
    assert latest.is_symlink()
    archive = backups / os.readlink(latest)
    assert re.fullmatch(r"mtshield-\d{8}-\d{6}\.tar\.lz4", archive.name)
    assert (archive.stat().st_mode & 0o777) == 0o600
    assert (backups / (archive.name + ".sha256")).exists()

    config_path.write_text("secrets: []\n")
    restored = make("restore", *variables)
    assert restored.returncode == 0, restored.stderr
    assert config_path.read_bytes() == original

    # A flipped byte: refused, and the current file is left alone.
    config_path.write_text("# changed after the backup\n")
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    refused = make("restore", f"BACKUP={archive.name}", *variables)
    assert refused.returncode != 0
    assert "refusing to restore" in refused.stderr
    assert config_path.read_text() == "# changed after the backup\n"


def test_make_run_in_the_foreground_is_stopped_by_make_stop(run_dir, new_secret, mtproxy_binary):
    """What `make run` runs (after its release build): the proxy in the foreground, its pid
    in RUN_DIR/mtproxy.pid and its events teed into RUN_DIR/events.jsonl."""
    directory, config, port, variables = run_dir
    write_config(directory, config, new_secret)
    stats = [v for v in variables if v.startswith("STATS=")][0].split("=", 1)[1]
    foreground = subprocess.Popen([str(ROOT / "scripts" / "run-proxy.sh"), mtproxy_binary, str(directory), str(port), stats],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=make_environment(variables))
    try:
        deadline = time.monotonic() + 30
        while "proxy.started" not in events_in(directory) and time.monotonic() < deadline:
            assert foreground.poll() is None, foreground.stderr.read().decode()
            time.sleep(0.1)
        pid = int((directory / "mtproxy.pid").read_text())
        assert pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1] == b"run"
        assert attempt("127.0.0.1", port, new_secret) == "relayed"
        assert make("status", *variables).returncode == 0
        stopped = make("stop", *variables)
        assert stopped.returncode == 0, stopped.stderr
        assert foreground.wait(30) == 0
        out = foreground.stdout.read().decode()
        assert "tg://proxy?server=127.0.0.1" in out and '"event.action":"proxy.stopped"' in out
        assert not (directory / "mtproxy.pid").exists()
    finally:
        if foreground.poll() is None:
            foreground.kill()
            foreground.wait(10)


ABUSER = "127.0.0.5"


def auditor_metric(address, name):
    """The sum of a metric's samples on the auditor's /metrics (0 when it has none)."""
    text = urllib.request.urlopen(f"http://{address}/metrics", timeout=5).read().decode()
    return sum(float(match.group(1)) for match in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def wait_until(condition, timeout=30.0, message="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{message} not met within {timeout}s"
        time.sleep(0.1)


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


def test_make_run_starts_the_auditor_beside_the_proxy_and_make_stop_stops_both(run_dir, new_secret, mtproxy_binary,
                                                                                mtauditor_binary):
    """What `make run` runs: the auditor first (its configuration written: the proxy's events,
    the shipped rules, the blocklist the proxy watches), then the proxy in the foreground. The
    auditor reads the proxy's events, bans a flood of bad handshakes through the blocklist, the
    proxy refuses that address, `mtauditor report` lists the ban; `make stop` stops both."""
    directory, config, port, variables = run_dir
    blocklist = directory / "blocklist.txt"
    write_config(directory, dict(config, blocklist=str(blocklist)), new_secret)
    stats = [v for v in variables if v.startswith("STATS=")][0].split("=", 1)[1]
    metrics = [v for v in variables if v.startswith("AUDITOR_METRICS=")][0].split("=", 1)[1]
    foreground = subprocess.Popen([str(ROOT / "scripts" / "run-proxy.sh"), mtproxy_binary, str(directory), str(port), stats],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=make_environment(variables))
    try:
        def started():
            assert foreground.poll() is None, foreground.stderr.read().decode()
            return "proxy.started" in events_in(directory)
        wait_until(started, message="the proxy started")
        proxy_pid = int((directory / "mtproxy.pid").read_text())
        auditor_pid = int((directory / "mtauditor.pid").read_text())
        assert pathlib.Path(f"/proc/{auditor_pid}/cmdline").read_bytes().split(b"\0")[1:3] == [b"run", b"--config"]
        auditor_config = (directory / "mtauditor.yaml").read_text()
        for expected in (str(directory / "events.jsonl"), str(ROOT / "rules"), str(blocklist), metrics):
            assert expected in auditor_config, auditor_config
        wait_until(lambda: auditor_metric(metrics, "mtauditor_events_read_total") >= 1, message="the auditor read an event")

        assert attempt("127.0.0.1", port, new_secret) == "relayed"
        # The shipped rule handshake-failures-per-ip: 20 failed handshakes from one address in a minute.
        for _ in range(25):
            bad_handshake(ABUSER, "127.0.0.1", port)
        wait_until(lambda: ABUSER in blocklist.read_text() if blocklist.exists() else False, message="the abuser in the blocklist")
        wait_until(lambda: raw.closed_without_a_byte(ABUSER, "127.0.0.1", port, wait=1.0), message="the abuser refused")
        assert attempt("127.0.0.1", port, new_secret) == "relayed"
        assert auditor_metric(metrics, "mtauditor_events_read_total") >= 25
        assert auditor_metric(metrics, "mtauditor_active_bans") >= 1

        status = make("status", *variables)
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"pid {proxy_pid}" in status.stdout and f"mtauditor is running: pid {auditor_pid}" in status.stdout
        assert re.search(r"mtauditor_events_read_total [1-9]", status.stdout), status.stdout
        assert "--- mtauditor" in make("logs", "N=5", *variables).stdout

        report = subprocess.run([mtauditor_binary, "report", "--since", "1h", "--config", str(directory / "mtauditor.yaml"),
                                 "--json"], capture_output=True, text=True, timeout=60)
        assert report.returncode == 0, report.stderr
        bans = json.loads(report.stdout)["bans"]
        assert any(ban["value"] == ABUSER and ban["rule"] == "handshake-failures-per-ip" and ban["origin"] == "rule"
                   for ban in bans), bans

        stopped = make("stop", *variables)
        assert stopped.returncode == 0, stopped.stderr
        # The foreground script may stop the auditor first, when the proxy ends: either way make stop waits for it.
        assert "mtproxy stopped" in stopped.stdout and "mtauditor" in stopped.stdout, stopped.stdout
        assert foreground.wait(30) == 0
        for pid in (proxy_pid, auditor_pid):
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        assert not (directory / "mtproxy.pid").exists() and not (directory / "mtauditor.pid").exists()
        status = make("status", *variables)
        assert status.returncode != 0 and "mtproxy is not running" in status.stdout
        assert "tg://proxy?server=127.0.0.1" in foreground.stdout.read().decode()
    finally:
        if foreground.poll() is None:
            foreground.kill()
            foreground.wait(10)


def checklist_outcomes(output):
    """item id -> PASS/FAIL/UNKNOWN from `make checklist`'s output."""
    return {match.group(2): match.group(1)
            for match in re.finditer(r"^(PASS|FAIL|UNKNOWN)\s+(\w+)\s", output, re.MULTILINE)}


def test_make_checklist_against_a_running_proxy(run_dir, new_secret):
    directory, config, port, variables = run_dir
    write_config(directory, config, new_secret)
    (directory / "mtproxy.yaml").chmod(0o640)
    started = make("start", *variables)
    assert started.returncode == 0, started.stderr
    assert make("backup", *variables).returncode == 0

    checked = make("checklist", *variables)
    outcomes = checklist_outcomes(checked.stdout)
    assert set(outcomes) == {"non_root_user", "firewall", "secret_strength", "secret_age", "stats_loopback",
                             "logging_enabled", "log_rotation", "monitoring_reachable", "backup_recent",
                             "container_hardening"}, checked.stdout
    for item in ["secret_strength", "stats_loopback", "monitoring_reachable", "backup_recent"]:
        assert outcomes[item] == "PASS", checked.stdout
    # The test's file has no created: and no rotation on record: the age is unknown, said so.
    assert outcomes["secret_age"] == "UNKNOWN", checked.stdout
    assert "its age is unknown" in checked.stdout
    # make's own status is 2 when mtforensics exits non-zero; the outcome line says which.
    expected = 1 if "FAIL" in outcomes.values() else 2
    assert re.search(rf"{sum(v == 'FAIL' for v in outcomes.values())} failed", checked.stdout)
    assert checked.returncode != 0 and f"Error {expected}" in checked.stderr, checked.stderr

    # After a rotation the secret carries created: and the age passes.
    rotated = make("rotate", *variables)
    assert rotated.returncode == 0, rotated.stderr
    assert "created:" in (directory / "mtproxy.yaml").read_text()
    again = checklist_outcomes(make("checklist", *variables).stdout)
    assert again["secret_age"] == "PASS"


def test_make_run_writes_a_new_configuration_whose_secret_is_dated(tmp_path, mtproxy_binary):
    """The first `make run` writes RUN_DIR/mtproxy.yaml with a fresh secret and its created:
    time. The proxy itself is stood in for (it would listen beyond loopback): the stand-in
    checks the file with the real binary instead of running it."""
    stand_in = tmp_path / "mtproxy"
    stand_in.write_text(f'#!/usr/bin/env bash\nif [[ $1 == run ]]; then exec "{mtproxy_binary}" check-config "${{@:2}}"; fi\n'
                        f'exec "{mtproxy_binary}" "$@"\n')
    stand_in.chmod(0o755)
    directory = tmp_path / "run"
    before = time.time()
    result = subprocess.run([str(ROOT / "scripts" / "run-proxy.sh"), str(stand_in), str(directory), str(free_port()),
                             f"127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, AUDITOR="0"))  # the proxy's file alone; the auditor has its own test
    assert result.returncode == 0, result.stderr
    assert "created:" not in result.stderr
    text = (directory / "mtproxy.yaml").read_text()
    created = re.search(r"^    created: (\S+)$", text, re.MULTILINE)
    assert created, text
    assert before - 5 <= epoch(created.group(1)) <= time.time() + 5
