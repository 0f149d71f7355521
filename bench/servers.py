"""Starting and stopping gunicorn with the project's ``gunicorn.conf.py``.

The service, the bare Flask app and the Authlib reference run under the same
settings file and the same worker count; only the WSGI app differs.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "gunicorn.conf.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """One gunicorn master (and its workers) serving ``app`` on a loopback port."""

    def __init__(self, app: str, workers: int, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = dict(os.environ, **env, COL_AUTH_BIND=f"127.0.0.1:{self.port}",
                        COL_AUTH_WORKERS=str(workers))
        self.command = [sys.executable, "-m", "gunicorn", "-c", str(CONF), app]
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> Gunicorn:
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the master without waiting: several servers then boot side by side."""
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own command line
                self.command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 90.0) -> Gunicorn:
        """Return once the server answers ``/healthz``."""
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}); see {self.log}")
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f}s; see {self.log}")

    def worker_pids(self) -> list[int]:
        """The workers' process ids (the master's children)."""
        assert self.process is not None, "launch() first"
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            return [int(child) for child in children]
        except OSError:
            pass
        # Kernels without CONFIG_PROC_CHILDREN: every process whose parent is the master.
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                # "pid (comm) state ppid ...": comm may hold spaces, so split after ")".
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
        return sorted(found)

    def _answers(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            conn.close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        self._terminate()
        self._wait()

    def _terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def _wait(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def stop_all(servers: list[Gunicorn]) -> None:
    """Stop several servers at once: each master's graceful shutdown overlaps the others'."""
    for server in servers:
        server._terminate()
    for server in servers:
        server._wait()
