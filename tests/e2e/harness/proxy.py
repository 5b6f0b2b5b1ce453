"""The proxy under test: the real `mtproxy` binary in a child process with a temporary config."""
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


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


class MTProxy:
    """One running `mtproxy run --config FILE`; `config` is a dict written as YAML."""

    writes_dc_index = True
    # Longest TLS record payload towards clients; tdlib's reader accepts 2^14 (PROTOCOL.md §4.5).
    tls_record_limit = 16384

    def __init__(self, binary, workdir, config):
        self.binary = binary
        self.workdir = workdir
        self.config = config
        self.config_path = os.path.join(workdir, "mtproxy.yaml")
        self.events_path = config.get("events", {}).get("path")
        self.stdout_path = os.path.join(workdir, "stdout.log")
        self.stderr_path = os.path.join(workdir, "stderr.log")
        self.process = None
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
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.process = subprocess.Popen(
            [self.binary, "run", "--config", self.config_path],
            stdin=subprocess.DEVNULL, stdout=self._stdout, stderr=self._stderr,
            cwd=self.workdir,
        )
        # Ready when it says so: a probe connection would show up in its events.
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mtproxy exited with {self.process.returncode} at start:\n{self.output()}")
            if any(e.get("event.action") == "proxy.started" for e in self.events()):
                return self
            time.sleep(0.05)
        raise TimeoutError(f"mtproxy did not start (no proxy.started event) in {STARTUP_TIMEOUT}s:\n{self.output()}")

    def signal(self, signum):
        self.process.send_signal(signum)

    def stop(self) -> int:
        """SIGTERM, then a bounded wait; returns the exit code (kills and raises if it hangs)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise TimeoutError(f"mtproxy did not exit within {STOP_TIMEOUT}s of SIGTERM")
        finally:
            self._stdout.close()
            self._stderr.close()

    def output(self) -> str:
        text = ""
        for path in (self.stdout_path, self.stderr_path):
            with contextlib.suppress(OSError), open(path, "rb") as file:
                text += file.read().decode("utf-8", "replace")
        return text

    def raw_output(self) -> bytes:
        data = b""
        for path in (self.stdout_path, self.stderr_path):
            with contextlib.suppress(OSError), open(path, "rb") as file:
                data += file.read()
        return data

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


class ReferenceProxy:
    """alexbers' mtprotoproxy via peers/alexbers.py, to validate the harness (E2E_PROXY=alexbers).

    It leaves the DC index bytes of its DC header random (PROTOCOL.md §3.1 step 3) and writes
    TLS records of up to 16 408 bytes (§4.5).
    """

    writes_dc_index = False
    tls_record_limit = 16408

    def __init__(self, workdir, secret_hex, dc_port):
        self.host, self.port = "127.0.0.1", free_port()
        self.workdir = workdir
        self.secret_hex = secret_hex
        self.dc_port = dc_port
        self.process = None

    def start(self):
        self._log = open(os.path.join(self.workdir, "alexbers.log"), "wb")
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "peers.alexbers", str(self.port), self.secret_hex, str(self.dc_port)],
            cwd=here, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"reference proxy exited with {self.process.returncode}")
            with contextlib.suppress(OSError):
                socket.create_connection((self.host, self.port), timeout=1).close()
                return self
            time.sleep(0.05)
        raise TimeoutError("reference proxy did not start")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self._log.close()
        return 0
