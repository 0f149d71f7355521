"""Fixtures: the app on SQLite and on PostgreSQL, a live HTTP server, a movable clock.

Every test that takes ``app`` (directly or through ``live``) runs once per
database backend. PostgreSQL is used when ``COL_AUTH_TEST_DATABASE_URL`` names it
or the local server answers at the default URL; ``COL_AUTH_TEST_REQUIRE_POSTGRES=1``
(set by CI) turns an unreachable server into a failure instead of a skip.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from col_auth import create_app
from col_auth.core.clock import system_clock
from col_auth.database import upgrade_database
from col_auth.extensions import db

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_URL = os.environ.get("COL_AUTH_TEST_DATABASE_URL", DEFAULT_PG_URL)
REQUIRE_PG = os.environ.get("COL_AUTH_TEST_REQUIRE_POSTGRES") == "1"


def _postgres_reachable() -> str | None:
    """None if PostgreSQL answers, else why not."""
    if not PG_URL.startswith("postgresql"):
        return f"COL_AUTH_TEST_DATABASE_URL is not PostgreSQL: {PG_URL}"
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"PostgreSQL not reachable at {PG_URL}: {exc.__class__.__name__}"
    return None


_PG_PROBLEM = _postgres_reachable()


def pytest_report_header(config):
    return f"col_auth databases: sqlite, postgresql ({_PG_PROBLEM or PG_URL})"


class FakeClock:
    """A clock the app can be given (setting ``CLOCK``): time moves only when told."""

    def __init__(self, start: datetime | None = None) -> None:
        self.moment = start or system_clock()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.moment

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.moment += timedelta(seconds=seconds)


_prepared: set[str] = set()
# Each test run gets a database of its own, so that runs in parallel (two
# developers, a helper, CI) never share tables.
_RUN_DB = f"col_auth_test_{os.getpid()}"


def _run_database_url() -> str:
    return sa.make_url(PG_URL).set(database=_RUN_DB).render_as_string(hide_password=False)


def _admin_execute(statement: str) -> None:
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(statement))
    engine.dispose()


def _create_run_database() -> None:
    _admin_execute(f'DROP DATABASE IF EXISTS "{_RUN_DB}" WITH (FORCE)')
    _admin_execute(f'CREATE DATABASE "{_RUN_DB}"')


@pytest.fixture(scope="session", autouse=True)
def _drop_run_database():
    yield
    if "postgresql" in _prepared:
        _admin_execute(f'DROP DATABASE IF EXISTS "{_RUN_DB}" WITH (FORCE)')


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("instance"))


def _make_app(backend: str, instance_dir: str, **overrides):
    url = _run_database_url() if backend == "postgresql" else f"sqlite:///{instance_dir}/test.sqlite"
    config = {
        "INSTANCE_PATH": instance_dir,
        "DATABASE_URL": url,
        "TESTING": True,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": None,
        # A cheap hash keeps seeding fast; production keeps werkzeug's scrypt.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    }
    config.update(overrides)
    return create_app(config)


def _clean(app) -> None:
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    if request.param == "postgresql" and _PG_PROBLEM:
        if REQUIRE_PG:
            pytest.fail(_PG_PROBLEM)
        pytest.skip(_PG_PROBLEM)
    return request.param


@pytest.fixture
def app_config() -> dict:
    """Override in a test module to give the app other settings."""
    return {}


@pytest.fixture
def app(backend, instance_dir, app_config) -> Iterator:
    app = _make_app(backend, instance_dir, **app_config)
    if backend not in _prepared:
        if backend == "postgresql":
            _create_run_database()
        upgrade_database(app)
        _prepared.add(backend)
    _clean(app)
    yield app
    _clean(app)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def clock(app) -> FakeClock:
    fake = FakeClock()
    app.config["CLOCK"] = fake
    return fake


class LiveServer:
    """The app served over real HTTP by werkzeug in a thread."""

    def __init__(self, app) -> None:
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        # A short poll interval: shutdown() waits for it after every test.
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> LiveServer:
        self.app.config["ISSUER"] = self.url
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


@pytest.fixture
def live(app) -> Iterator[LiveServer]:
    server = LiveServer(app).start()
    yield server
    server.stop()
