"""Load generators, always in a process of their own: ``wrk`` for the read benchmarks
(B1/B2), and a small Python generator for the token endpoint (B3), whose requests
each need a fresh code or the refresh token the previous answer returned.

Run as ``python -m bench.load JOB.json``: reads a job, prints one JSON result.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit


@dataclass
class LoadResult:
    """What one load run measured."""

    ok: int
    errors: int
    seconds: float
    generator: str
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


class LoadError(RuntimeError):
    """A load run whose figures would be meaningless (errors, nothing answered)."""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str:
    path = wrk_path()
    if not path:
        return "not installed"
    done = subprocess.run([path, "--version"], capture_output=True, text=True,  # noqa: S603
                          check=False)
    first = (done.stdout or done.stderr).splitlines()[0] if (done.stdout or done.stderr) else ""
    return first.split(" Copyright")[0].strip()


_UNITS = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6}


def _count(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)([kKM]?)", text)
    if not match:
        raise LoadError(f"cannot read wrk figure {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_get(url: str, headers: dict[str, str], seconds: float, connections: int) -> LoadResult:
    """GET ``url`` as fast as ``connections`` concurrent clients can, for ``seconds``."""
    path = wrk_path()
    if path is None:
        return run_job({"mode": "get", "url": url, "headers": headers, "seconds": seconds,
                        "concurrency": connections})
    command = [path, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    out = done.stdout
    if done.returncode != 0:
        raise LoadError(f"wrk failed: {done.stderr.strip() or out.strip()}")
    requests_match = re.search(r"^\s*(\d+) requests in ([\d.]+)(ms|s|m)", out, re.M)
    if not requests_match:
        raise LoadError(f"cannot read wrk output:\n{out}")
    total = int(requests_match.group(1))
    elapsed = float(requests_match.group(2)) * {"ms": 1e-3, "s": 1.0, "m": 60.0}[
        requests_match.group(3)]
    bad = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    if non_2xx:
        bad += int(non_2xx.group(1))
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    first_error = ""
    if sockets:
        connect, _read, write, timeout = (int(x) for x in sockets.groups())
        # A "read" error is gunicorn's sync worker closing the connection after
        # its answer (no keep-alive), which wrk counts; the answer itself arrived.
        bad += connect + write + timeout
        first_error = sockets.group(0)
    if non_2xx:
        first_error = non_2xx.group(0)
    return LoadResult(ok=total - (int(non_2xx.group(1)) if non_2xx else 0), errors=bad,
                      seconds=elapsed, generator="wrk", first_error=first_error)


def run_job(job: dict) -> LoadResult:
    """Run the Python generator in a separate process and read its result."""
    done = subprocess.run([sys.executable, "-m", "bench.load", "-"], input=json.dumps(job),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LoadError(f"load generator failed:\n{done.stderr[-2000:]}")
    data = json.loads(done.stdout)
    return LoadResult(ok=data["ok"], errors=data["errors"], seconds=data["seconds"],
                      generator="python", first_error=data["first_error"])


# --- the Python generator (runs in its own process) ---------------------------------


class _Generator:
    def __init__(self, job: dict) -> None:
        self.job = job
        parts = urlsplit(job["url"])
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path or "/"
        self.lock = threading.Lock()
        self.ok = 0
        self.errors = 0
        self.first_error = ""
        self.last_done = 0.0
        self.items = deque(job.get("items") or [])
        self.deadline = 0.0

    def _request(self, method: str, body: str | None, headers: dict[str, str]
                 ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, self.path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def _record(self, status: int, payload: bytes) -> bool:
        with self.lock:
            self.last_done = time.perf_counter()
            if status == 200:
                self.ok += 1
                return True
            self.errors += 1
            if not self.first_error:
                self.first_error = f"{status} {payload[:200]!r}"
            return False

    def worker(self, chain: str | None) -> None:
        mode = self.job["mode"]
        form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
        while time.perf_counter() < self.deadline:
            if mode == "get":
                status, payload = self._request("GET", None, self.job.get("headers") or {})
                self._record(status, payload)
                continue
            if mode == "code":
                try:
                    code = self.items.popleft()
                except IndexError:
                    return
                form = dict(self.job["form"], code=code)
            else:  # refresh: each answer's refresh token is the next request's
                form = dict(self.job["form"], refresh_token=chain)
            status, payload = self._request("POST", urlencode(form), form_headers)
            if self._record(status, payload) and mode == "refresh":
                chain = json.loads(payload)["refresh_token"]
            elif mode == "refresh" and status != 200:
                return  # this chain is broken; the error is counted

    def run(self) -> dict:
        concurrency = int(self.job["concurrency"])
        chains = list(self.job.get("chains") or [None] * concurrency)
        start = time.perf_counter()
        self.deadline = start + float(self.job["seconds"])
        threads = [threading.Thread(target=self.worker, args=(chains[i % len(chains)],))
                   for i in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = (self.last_done or time.perf_counter()) - start
        return {"ok": self.ok, "errors": self.errors, "seconds": elapsed,
                "first_error": self.first_error}


def main(argv: list[str]) -> int:
    source = sys.stdin if argv[:1] in (["-"], []) else open(argv[0])  # noqa: SIM115
    job = json.load(source)
    print(json.dumps(_Generator(job).run()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
