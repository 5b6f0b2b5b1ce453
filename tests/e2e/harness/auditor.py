"""The auditor under test: the real `mtauditor run` binary in a child process with a temporary config."""
import os
import re
import subprocess
import urllib.request

from .process import ChildProcess
from .proxy import free_port, to_yaml


def binary_supports_run(binary: str) -> bool:
    if not os.access(binary, os.X_OK):
        return False
    result = subprocess.run([binary, "run", "--help"], capture_output=True, timeout=30, text=True)
    return result.returncode == 0 and "not implemented" not in result.stdout


class MTAuditor(ChildProcess):
    """One running `mtauditor run --config FILE`; `config` is a dict written as YAML."""

    def __init__(self, binary, workdir, config):
        self.config = config
        self.config_path = os.path.join(workdir, "mtauditor.yaml")
        super().__init__("mtauditor", [binary, "run", "--config", self.config_path], workdir,
                         os.path.join(workdir, "mtauditor.log"))
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
        self.launch(lambda: "auditor started" in self.output())
        return self

    def metric(self, name, labels="") -> float:
        """The value of one series on /metrics (0 when absent)."""
        with urllib.request.urlopen(f"http://{self.metrics}/metrics", timeout=5) as response:
            text = response.read().decode()
        pattern = re.compile(r"^" + re.escape(name + labels) + r" (\S+)$", re.MULTILINE)
        found = pattern.search(text)
        return float(found.group(1)) if found else 0.0
