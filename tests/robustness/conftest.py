"""Fixtures of the robustness suites: Hypothesis settings, a fresh PostgreSQL database
per run, gunicorn as a subprocess, and an app that seeds gunicorn's database.

Longer runs (all of them bounded in count and time):

- ``COL_AUTH_FUZZ_EXAMPLES`` (default 100): examples per Hypothesis property of
  pure functions; the HTTP suites try half of it (at least 20) per endpoint.
- ``COL_AUTH_RACE_ROUNDS`` (default 1): how often each race against gunicorn is run.
- ``COL_AUTH_CRASH_KILLS`` (default 6): worker processes ``kill -9``-ed under load.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
import sqlalchemy as sa
from hypothesis import HealthCheck, settings

from col_auth import create_app
from col_auth.extensions import db
from tests.conftest import _PG_PROBLEM, PG_URL, REQUIRE_PG

ROOT = Path(__file__).resolve().parents[2]

FUZZ_EXAMPLES = max(1, int(os.environ.get("COL_AUTH_FUZZ_EXAMPLES", "100")))
HTTP_EXAMPLES = max(20, FUZZ_EXAMPLES // 2)
RACE_ROUNDS = max(1, int(os.environ.get("COL_AUTH_RACE_ROUNDS", "1")))
CRASH_KILLS = max(1, int(os.environ.get("COL_AUTH_CRASH_KILLS", "6")))

# A cheap hash keeps seeding and logging in fast; what is stored names its method,
# so gunicorn checks it whatever its own setting.
CHEAP_HASH = "pbkdf2:sha256:1000"

# Pure functions: many examples, no deadline (CI machines are slow and shared), no
# example database left in the work tree, and a reproduction blob on failure.
PURE = settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow])
# Over HTTP, against a server that lives for one test.
OVER_HTTP = settings(max_examples=HTTP_EXAMPLES, deadline=None, database=None,
                     print_blob=True,
                     suppress_health_check=[HealthCheck.too_slow,
                                            HealthCheck.function_scoped_fixture,
                                            HealthCheck.filter_too_much,
                                            HealthCheck.data_too_large])


# --- PostgreSQL -------------------------------------------------------------------------


def require_postgres() -> None:
    if _PG_PROBLEM:
        if REQUIRE_PG:
            pytest.fail(_PG_PROBLEM)
        pytest.skip(_PG_PROBLEM)


def _admin(statement: str) -> None:
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def _fresh_database() -> Iterator[str]:
    require_postgres()
    name = f"col_auth_robust_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """The URL of a PostgreSQL database of this module's own, dropped afterwards."""
    yield from _fresh_database()


# --- Redis ------------------------------------------------------------------------------

def _redis_url_of_this_worker() -> str:
    """``COL_AUTH_TEST_REDIS_URL``'s database for the first pytest-xdist worker, the
    databases below it for the others: the tests flush their database, and two
    workers flushing one would wipe each other's counts."""
    url = urlsplit(os.environ.get("COL_AUTH_TEST_REDIS_URL", "redis://127.0.0.1:6379/14"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    database = (int(url.path.strip("/") or 0) - worker) % 16
    return urlunsplit(url._replace(path=f"/{database}"))


REDIS_URL = _redis_url_of_this_worker()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database flushed before and after; CI (which names one) needs it up."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        if "COL_AUTH_TEST_REDIS_URL" in os.environ:
            pytest.fail(f"Redis not reachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


# --- gunicorn ---------------------------------------------------------------------------


def _has_control_socket() -> bool:
    from gunicorn.config import KNOWN_SETTINGS

    return any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)


_HAS_CONTROL_SOCKET = _has_control_socket()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


class Gunicorn:
    """``gunicorn -c gunicorn.conf.py app:app`` in a subprocess, on a free loopback port.

    The access log names the worker that answered each request (``<pid>``), so a
    test can show that consecutive requests reached different workers; with
    ``keep_log_format`` the access log is in gunicorn.conf.py's own format instead,
    for the tests of what production logs (``access_lines`` then finds nothing).
    """

    ACCESS_FORMAT = '%(p)s "%(m)s %(U)s" %(s)s'

    def __init__(self, *, workers: int, database_url: str, instance_path: str,
                 log_dir: Path, keep_log_format: bool = False, **settings: str) -> None:
        self.workers = workers
        self.keep_log_format = keep_log_format
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.instance_path = instance_path
        self.database_url = database_url
        self.access_log = log_dir / "access.log"
        self.error_log = log_dir / "error.log"
        self.output_log = log_dir / "output.log"
        metrics_dir = log_dir / "metrics"
        metrics_dir.mkdir(exist_ok=True)
        # Nothing of the test run's own COL_AUTH_* settings leaks into the server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("COL_AUTH_")}
        env.update({
            "COL_AUTH_WORKERS": str(workers),
            "COL_AUTH_BIND": f"127.0.0.1:{self.port}",
            "COL_AUTH_DATABASE_URL": database_url,
            "COL_AUTH_INSTANCE_PATH": instance_path,
            "COL_AUTH_ISSUER": self.url,
            "COL_AUTH_RATELIMIT_ENABLED": "false",
            "COL_AUTH_MIGRATE_ON_START": "true",
            "COL_AUTH_GRACEFUL_TIMEOUT": "5",
            "COL_AUTH_MAX_REQUESTS": "0",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        })
        env.update({f"COL_AUTH_{k}": v for k, v in settings.items()})
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> Gunicorn:
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                   "--access-logfile", str(self.access_log),
                   "--error-logfile", str(self.error_log)]
        if not self.keep_log_format:
            command += ["--access-logformat", self.ACCESS_FORMAT]
        if _HAS_CONTROL_SOCKET:  # gunicorn 24+: not the one shared path under ~/.gunicorn
            command.append("--no-control-socket")
        command.append("app:app")
        # The workers' own stderr (tracebacks logged by the app) goes to a file too.
        with open(self.output_log, "ab") as output:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env,
                                            stdout=output, stderr=subprocess.STDOUT)
        self.wait_ready(timeout)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def worker_pids(self) -> list[int]:
        return children_of(self.pid)

    def wait_ready(self, timeout: float = 90) -> None:
        """Until the database answers and every worker process is there."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n"
                                   + self.errors()[-3000:])
            try:
                ready = requests.get(self.url + "/readyz", timeout=5).status_code == 200
            except requests.RequestException:
                ready = False
            if ready and len(self.worker_pids()) >= self.workers:
                return
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not become ready:\n" + self.errors()[-3000:])

    def wait_workers(self, count: int | None = None, timeout: float = 60) -> None:
        count = count or self.workers
        deadline = time.monotonic() + timeout
        while len(self.worker_pids()) < count:
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not restart its workers:\n"
                                   + self.errors()[-3000:])
            time.sleep(0.1)

    def access_lines(self) -> list[tuple[int, str, str, int]]:
        """``(worker pid, method, path, status)`` of every logged request, in order."""
        pattern = re.compile(r'<(\d+)> "(\S+) (\S+)" (\d+)')
        rows = []
        if self.access_log.exists():
            for line in self.access_log.read_text(errors="replace").splitlines():
                match = pattern.match(line)
                if match:
                    rows.append((int(match[1]), match[2], match[3], int(match[4])))
        return rows

    def errors(self) -> str:
        """gunicorn's error log and the workers' output."""
        return "".join(log.read_text(errors="replace") for log in (self.error_log,
                                                                  self.output_log)
                       if log.exists())

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        workers = self.worker_pids()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        for pid in workers:  # a worker the master could not stop in time
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def seeding_app(database_url: str, instance_path: str, **overrides):
    """An app on gunicorn's database and instance path (the same generated keys),
    for seeding data and reading what the server stored."""
    config = {
        "INSTANCE_PATH": instance_path,
        "DATABASE_URL": database_url,
        "TESTING": True,
        "RATELIMIT_ENABLED": False,
        "PASSWORD_HASH_METHOD": CHEAP_HASH,
    }
    config.update(overrides)
    return create_app(config)


def clean(app) -> None:
    """Every row of every table deleted."""
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())


def dispose(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def gunicorn_factory(tmp_path_factory, pg_database):
    """Start gunicorn servers on this module's database; each is stopped at the end."""
    started: list[Gunicorn] = []
    instance = str(tmp_path_factory.mktemp("gunicorn-instance"))

    def start(workers: int = 4, **settings: str) -> Gunicorn:
        log_dir = tmp_path_factory.mktemp("gunicorn-logs")
        server = Gunicorn(workers=workers, database_url=pg_database, instance_path=instance,
                          log_dir=log_dir, **settings)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
