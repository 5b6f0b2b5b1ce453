"""A program under test in a child process: started, ready when it says so, stopped with SIGTERM then SIGKILL."""
import contextlib
import signal
import subprocess
import time

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


class ChildProcess:
    """One child process whose standard output and error go to files (one file when both paths are the same).

    The harness's programs under test are ChildProcesses: their `start()` writes what the program needs, then
    calls `launch()`."""

    def __init__(self, name, argv, cwd, stdout_path, stderr_path=None):
        self.name = name
        self.argv = list(argv)
        self.cwd = cwd
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path or stdout_path
        self.process = None
        self._files = []

    def launch(self, ready, waiting_for="", timeout=STARTUP_TIMEOUT):
        """Starts it and polls `ready()` until it is true; raises with its output if it exits first or never is."""
        stdout = open(self.stdout_path, "wb")
        stderr = stdout if self.stderr_path == self.stdout_path else open(self.stderr_path, "wb")
        self._files = [stdout] if stderr is stdout else [stdout, stderr]
        self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, cwd=self.cwd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode} at start:\n{self.output()}")
            if ready():
                return
            time.sleep(0.05)
        suffix = f" ({waiting_for})" if waiting_for else ""
        raise TimeoutError(f"{self.name} did not start{suffix} in {timeout}s:\n{self.output()}")

    def signal(self, signum):
        self.process.send_signal(signum)

    def stop(self) -> int:
        """SIGTERM, then a bounded wait; returns the exit code (kills and raises if it hangs)."""
        if self.process is None:
            return 0
        try:
            if self.process.poll() is not None:
                return self.process.returncode
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
                raise TimeoutError(f"{self.name} did not exit within {STOP_TIMEOUT}s of SIGTERM")
        finally:
            for file in self._files:
                file.close()

    def raw_output(self) -> bytes:
        """What it wrote so far: standard output, then standard error."""
        data = b""
        for path in dict.fromkeys((self.stdout_path, self.stderr_path)):
            with contextlib.suppress(OSError), open(path, "rb") as file:
                data += file.read()
        return data

    def output(self) -> str:
        return self.raw_output().decode("utf-8", "replace")
