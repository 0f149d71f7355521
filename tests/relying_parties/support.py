"""Support for the real relying parties: a second HTTP server for an app of their own,
and the Node.js relying party of ``tests/node/rp.mjs`` driven line by line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
RP_SCRIPT = NODE_DIR / "rp.mjs"
# CI (which sets CI=true) installs tests/node with `npm ci`: there a missing Node.js
# or node_modules is a failure, as a missing PostgreSQL is with
# COL_AUTH_TEST_REQUIRE_POSTGRES; on a developer's machine it is a skip.
REQUIRE_NODE = (os.environ.get("COL_AUTH_TEST_REQUIRE_NODE") == "1"
                or os.environ.get("CI", "").lower() not in ("", "0", "false"))


class WsgiServer:
    """Another WSGI app served over real HTTP on 127.0.0.1 (another origin than the
    service's: another port), in a thread."""

    def __init__(self, wsgi_app) -> None:
        self._server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def node_problem() -> str | None:
    """None if Node.js and tests/node's packages are there, else what is missing."""
    if shutil.which("node") is None:
        return "Node.js is not installed (apt-get install nodejs npm)"
    if not (NODE_DIR / "node_modules" / "openid-client" / "package.json").is_file():
        return "tests/node has no node_modules: run `npm ci --prefix tests/node`"
    return None


def require_node() -> None:
    problem = node_problem()
    if problem:
        if REQUIRE_NODE:
            pytest.fail(problem)
        pytest.skip(problem)


class NodeRP:
    """``node tests/node/rp.mjs SETTINGS``: a relying party built on openid-client.

    It writes one JSON object per step; :meth:`expect` reads the next one and checks
    its name, :meth:`send` answers a question (the callback URL)."""

    def __init__(self, settings: dict) -> None:
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in close()
        self._process = subprocess.Popen(
            ["node", str(RP_SCRIPT), json.dumps(settings)], cwd=NODE_DIR, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)

    def expect(self, step: str) -> dict:
        # rp.mjs gives up after 60 s by itself, so this read always ends.
        line = self._process.stdout.readline()
        if not line:
            self._process.wait(10)
            raise AssertionError(f"rp.mjs ended (status {self._process.returncode}) "
                                 f"before {step!r}: {self._stderr_text()}")
        message = json.loads(line)
        if message["step"] == "failed":
            raise AssertionError(f"openid-client failed before {step!r}: {message}")
        assert message["step"] == step, (step, message)
        return message

    def send(self, line: str) -> None:
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()

    def finish(self) -> None:
        """The script said ``done``: it exits 0."""
        assert self._process.wait(10) == 0, self._stderr_text()

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)
        for stream in (self._process.stdin, self._process.stdout, self._stderr):
            stream.close()

    def _stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-2000:]
