"""The proxy under test: the real `mtproxy` binary in a child process with a temporary config."""
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

from .process import ChildProcess


def free_port(host="127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def to_yaml(value, indent=0) -> str:
    """Block-style YAML for dicts, lists and scalars; strings are always quoted."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        out = ""
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out += f"{pad}{json.dumps(str(key))}:\n{to_yaml(item, indent + 1)}"
            else:
                out += f"{pad}{json.dumps(str(key))}: {to_yaml(item).strip()}\n"
        return out
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        out = ""
        for item in value:
            body = to_yaml(item, indent + 1).lstrip()
            out += f"{pad}- {body}"
        return out
    if isinstance(value, bool):
        return pad + ("true" if value else "false") + "\n"
    if isinstance(value, (int, float)):
        return f"{pad}{value}\n"
    return pad + json.dumps(str(value)) + "\n"


def binary_supports_run(binary: str) -> bool:
    if not os.access(binary, os.X_OK):
        return False
    # `mtproxy run --help` succeeds even without a `run` subcommand; the root help lists them.
    result = subprocess.run([binary, "--help"], capture_output=True, timeout=30, text=True)
    return any(line.split()[:1] == ["run"] for line in result.stdout.splitlines())


class MTProxy(ChildProcess):
    """One running `mtproxy run --config FILE`; `config` is a dict written as YAML."""

    writes_dc_index = True
    # Longest TLS record payload towards clients; tdlib's reader accepts 2^14 (PROTOCOL.md §4.5).
    tls_record_limit = 16384

    def __init__(self, binary, workdir, config):
        self.config = config
        self.config_path = os.path.join(workdir, "mtproxy.yaml")
        self.events_path = config.get("events", {}).get("path")
        super().__init__("mtproxy", [binary, "run", "--config", self.config_path], workdir,
                         os.path.join(workdir, "stdout.log"), os.path.join(workdir, "stderr.log"))
        host, port = config["listen"][0].rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.stats = config.get("stats", {}).get("listen")

    def write_config(self, config=None, text=None):
        if config is not None:
            self.config = config
        with open(self.config_path, "w") as file:
            file.write(text if text is not None else to_yaml(self.config))
        os.chmod(self.config_path, 0o644)

    def start(self):
        self.write_config()
        # Ready when it says so: a probe connection would show up in its events.
        self.launch(lambda: any(e.get("event.action") == "proxy.started" for e in self.events()),
                    waiting_for="no proxy.started event")
        return self

    def events(self) -> list[dict]:
        if not self.events_path or not os.path.exists(self.events_path):
            return []
        with open(self.events_path, "rb") as file:
            lines = file.read().split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    def wait_event(self, predicate, timeout=10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events():
                if predicate(event):
                    return event
            if time.monotonic() >= deadline:
                actions = [e.get("event.action") for e in self.events()]
                raise TimeoutError(f"no matching event in {timeout}s; saw actions {actions}")
            time.sleep(0.05)

    def wait_action(self, action, timeout=10.0, **fields) -> dict:
        return self.wait_event(
            lambda e: e.get("event.action") == action and all(e.get(k) == v for k, v in fields.items()),
            timeout,
        )

    def http_get(self, path) -> bytes:
        with urllib.request.urlopen(f"http://{self.stats}{path}", timeout=5) as response:
            return response.read()


class ReferenceProxy(ChildProcess):
    """alexbers' mtprotoproxy via peers/alexbers.py, to validate the harness (E2E_PROXY=alexbers).

    It leaves the DC index bytes of its DC header random (PROTOCOL.md §3.1 step 3) and writes
    TLS records of up to 16 408 bytes (§4.5).
    """

    writes_dc_index = False
    tls_record_limit = 16408

    def __init__(self, workdir, secret_hex, dc_port):
        self.host, self.port = "127.0.0.1", free_port()
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        super().__init__("reference proxy", [sys.executable, "-m", "peers.alexbers", str(self.port), secret_hex, str(dc_port)],
                         here, os.path.join(workdir, "alexbers.log"))

    def start(self):
        self.launch(self.accepts, waiting_for="no connection accepted")
        return self

    def accepts(self) -> bool:
        with contextlib.suppress(OSError):
            socket.create_connection((self.host, self.port), timeout=1).close()
            return True
        return False
