"""Starting and stopping gunicorn with the project's ``gunicorn.conf.py``.

Both the service and the bare Flask app of B1/B2 run under the same settings file
and the same worker count; only the WSGI app differs.
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
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own command line
                self.command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}); see {self.log}")
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f}s; see {self.log}")

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
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
