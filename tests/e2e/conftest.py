import os
import pathlib
import secrets

import pytest

from harness import auditor as auditor_harness
from harness.client import use_openssl_aes
from harness.fake_dc import FakeDC
from harness.proxy import MTProxy, ReferenceProxy, binary_supports_run, free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
MTPROXY_BIN = os.environ.get("MTPROXY_BIN") or str(ROOT / ".build" / "debug" / "mtproxy")
MTAUDITOR_BIN = os.environ.get("MTAUDITOR_BIN") or str(ROOT / ".build" / "debug" / "mtauditor")
# "mtproxy" (the default) or "alexbers": the reference proxy, to check the harness itself.
PROXY_UNDER_TEST = os.environ.get("E2E_PROXY", "mtproxy")


def pytest_configure(config):
    config.addinivalue_line("markers", "mtproxy_only: needs mtproxy's events, limits or config")


def pytest_collection_modifyitems(config, items):
    if PROXY_UNDER_TEST == "mtproxy":
        return
    selected = [item for item in items if "mtproxy_only" not in item.keywords]
    config.hook.pytest_deselected(items=[item for item in items if item not in selected])
    items[:] = selected


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, "report_" + report.when, report)
    return report


@pytest.fixture(scope="session")
def fake_dc():
    dc = FakeDC().start()
    yield dc
    dc.stop()


@pytest.fixture(autouse=True)
def openssl_aes(monkeypatch):
    use_openssl_aes(monkeypatch)


@pytest.fixture(scope="session")
def mtproxy_binary():
    if PROXY_UNDER_TEST != "mtproxy":
        return None
    if not binary_supports_run(MTPROXY_BIN):
        pytest.fail(f"no `mtproxy run` in {MTPROXY_BIN}: build it first (`make build`)", pytrace=False)
    return MTPROXY_BIN


# Every DC id the proxy knows by default is pointed at the fake DC, so no test can reach
# Telegram's real addresses.
DC_IDS = (1, 2, 3, 4, 5, 203)


def base_config(workdir, fake_dc, secret_hex, dc_ids=DC_IDS):
    workdir = pathlib.Path(workdir)
    return {
        "instance": "e2e",
        "listen": [f"127.0.0.1:{free_port()}"],
        "secrets": [{"name": "main", "secret": secret_hex}],
        "fronting": {"enabled": False},
        "telegram": {"dcs": {str(dc): fake_dc.endpoint(dc) for dc in dc_ids}},
        "events": {"path": str(workdir / "events.jsonl"), "privacy": "full"},
        "limits": {"handshake_timeout": "10s"},
        "stats": {"listen": f"127.0.0.1:{free_port()}"},
        "allow_root": True,
    }


@pytest.fixture
def new_secret():
    """A fresh 16-byte key in hex. Telethon strips a leading "dd" or "ee" from any secret
    (TcpMTProxy.normalize_secret), so a classic key must not start with either."""
    while True:
        key = secrets.token_hex(16)
        if key[:2] not in ("dd", "ee"):
            return key


def stop_all(request, started):
    """Stops every program a test started; when the test failed, prints what each said
    (secrets are random per test) and its last events."""
    for program in started:
        program.stop()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for program in started:
            print(f"--- {program.name} output ---\n{program.output()[-4000:]}")
            for event in (program.events() if hasattr(program, "events") else [])[-40:]:
                print(event)


@pytest.fixture
def start_proxy(request, tmp_path, fake_dc, mtproxy_binary):
    """start_proxy(secret_hex, **top-level overrides) -> a running proxy, stopped at teardown."""
    started = []

    def start(secret_hex, **overrides):
        workdir = tmp_path / f"proxy{len(started)}"
        workdir.mkdir()
        if PROXY_UNDER_TEST == "alexbers":
            proxy = ReferenceProxy(str(workdir), secret_hex, fake_dc.port)
        else:
            config = base_config(workdir, fake_dc, secret_hex)
            config.update(overrides)
            proxy = MTProxy(mtproxy_binary, str(workdir), config)
        started.append(proxy)
        return proxy.start()

    yield start
    stop_all(request, started)


@pytest.fixture(scope="session")
def mtauditor_binary():
    if not auditor_harness.binary_supports_run(MTAUDITOR_BIN):
        pytest.fail(f"no `mtauditor run` in {MTAUDITOR_BIN}: build it first (`make build`)", pytrace=False)
    return MTAUDITOR_BIN


@pytest.fixture
def start_auditor(request, tmp_path, mtauditor_binary):
    """start_auditor(sources, rules=ROOT/rules, blocklist=None, **top-level overrides) -> a running
    auditor, stopped at teardown."""
    started = []

    def start(sources, rules=str(ROOT / "rules"), blocklist=None, **overrides):
        workdir = tmp_path / f"auditor{len(started)}"
        workdir.mkdir()
        config = auditor_harness.MTAuditor.default_config(str(workdir), sources, rules, blocklist)
        config.update(overrides)
        auditor = auditor_harness.MTAuditor(mtauditor_binary, str(workdir), config)
        started.append(auditor)
        return auditor.start()

    yield start
    stop_all(request, started)
