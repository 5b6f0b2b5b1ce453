"""The auditor under test: the real `mtauditor run` binary in a child process with a temporary config."""
import contextlib
import os
import re
import signal
import subprocess
import time
import urllib.request

from .proxy import STOP_TIMEOUT, free_port, to_yaml

STARTUP_TIMEOUT = 30.0


def binary_supports_run(binary: str) -> bool:
    if not os.access(binary, os.X_OK):
        return False
    result = subprocess.run([binary, "run", "--help"], capture_output=True, timeout=30, text=True)
    return result.returncode == 0 and "not implemented" not in result.stdout


class MTAuditor:
    """One running `mtauditor run --config FILE`; `config` is a dict written as YAML."""

    def __init__(self, binary, workdir, config):
        self.binary = binary
        self.workdir = workdir
        self.config = config
        self.config_path = os.path.join(workdir, "mtauditor.yaml")
        self.stderr_path = os.path.join(workdir, "mtauditor.log")
        self.process = None
        self.metrics = (config.get("metrics") or {}).get("listen")

    @staticmethod
    def default_config(workdir, sources, rules, blocklist=None):
        blockers = [{"proxy": {"path": blocklist}}] if blocklist else []
        return {
            "sources": list(sources),
            "rules": rules,
            "state": os.path.join(workdir, "auditor.sqlite"),
            "blockers": blockers,
            "metrics": {"listen": f"127.0.0.1:{free_port()}"},
        }

    def start(self):
        with open(self.config_path, "w") as file:
            file.write(to_yaml(self.config))
        self._stderr = open(self.stderr_path, "wb")
        self.process = subprocess.Popen(
            [self.binary, "run", "--config", self.config_path],
            stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr, cwd=self.workdir,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mtauditor exited with {self.process.returncode} at start:\n{self.output()}")
            if "auditor started" in self.output():
                return self
            time.sleep(0.05)
        raise TimeoutError(f"mtauditor did not start in {STARTUP_TIMEOUT}s:\n{self.output()}")

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
            raise TimeoutError(f"mtauditor did not exit within {STOP_TIMEOUT}s of SIGTERM")
        finally:
            self._stderr.close()

    def output(self) -> str:
        with contextlib.suppress(OSError), open(self.stderr_path, "rb") as file:
            return file.read().decode("utf-8", "replace")
        return ""

    def metric(self, name, labels="") -> float:
        """The value of one series on /metrics (0 when absent)."""
        with urllib.request.urlopen(f"http://{self.metrics}/metrics", timeout=5) as response:
            text = response.read().decode()
        pattern = re.compile(r"^" + re.escape(name + labels) + r" (\S+)$", re.MULTILINE)
        found = pattern.search(text)
        return float(found.group(1)) if found else 0.0
