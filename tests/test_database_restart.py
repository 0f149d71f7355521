"""A database restart costs no request, and no request pays a ping for it (issue 11).

The pool does not ping on checkout (``pool_pre_ping`` is off unless the operator
sets it); a request whose first statement meets a dead connection is run again,
once, on a fresh one (``col_auth.database``). Here PostgreSQL's backends of the
test's own database are killed (``pg_terminate_backend``, which is what a restart
or a failover does to every open connection) between requests, and:

- every later request answers 200, token validation (Bearer and Basic on
  ``/api/v1/me``) and the token endpoint alike, in process (one pool, filled
  first, so that every pooled connection is dead) and through gunicorn; a code
  exchanged right after the kill is redeemed exactly once;
- the whole pool costs one failed statement: SQLAlchemy marks every connection of
  the pool older than the failure as stale, and replaces each at its checkout;
- what must not be run again is not: a failure that is no disconnect, a
  disconnect after the request's first statement (after a commit, say), a
  write in autocommit, or a second disconnect;
- a retried request counts once against its rate limit;
- a checkout sends no ping: a request's round trips are its own statements.

SQLite runs the same tests (nothing to kill there: the requests simply answer).
Only the backends of this test's own database are killed, never the server's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy import event, func, select

from col_auth.core import legacy_tokens
from col_auth.core.models import (
    GRANT_USER_TOKEN,
    AuthorizationCode,
    Grant,
    LegacyApp,
    Site,
    User,
)
from col_auth.core.transaction import own_transaction
from col_auth.database import RESENDABLE, read_without_transaction
from col_auth.extensions import db
from tests.helpers import basic
from tests.oauth.support import OAuthSeed, seed_client
from tests.robustness.conftest import Gunicorn, _fresh_database, clean, dispose, seeding_app
from tests.robustness.support import create_codes, exchange, fresh_get, race

# More requests than the pool holds connections (QueuePool's default size is 5).
POOL_SIZE = 5
REQUESTS_AFTER_KILL = 12


@pytest.fixture
def app_config() -> dict:
    # No cache of validations: every request below reads the database, so each
    # one really meets what the kill left behind.
    return {"TOKEN_CACHE_SECONDS": 0}


# --- helpers ------------------------------------------------------------------------------


def kill_backends(database_url: str) -> int:
    """Terminate every backend of ``database_url``'s database but the one asking, and
    wait until they are gone; how many there were. Nothing to do on SQLite."""
    if not database_url.startswith("postgresql"):
        return 0
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT",
                             poolclass=sa.pool.NullPool)
    others = ("FROM pg_stat_activity WHERE datname = current_database() "
              "AND pid <> pg_backend_pid()")
    try:
        with admin.connect() as conn:
            killed = conn.execute(sa.text(f"SELECT count(pg_terminate_backend(pid)) {others}"
                                          )).scalar_one()
            deadline = time.monotonic() + 10
            while conn.execute(sa.text(f"SELECT count(*) {others}")).scalar_one():
                assert time.monotonic() < deadline, "the killed backends did not exit"
                time.sleep(0.02)
    finally:
        admin.dispose()
    return killed


def fill_pool(app, size: int = POOL_SIZE) -> None:
    """Leave ``size`` connections, each used once, idle in the app's pool."""
    with app.app_context():
        connections = [db.engine.connect() for _ in range(size)]
        for connection in connections:
            connection.execute(sa.text("SELECT 1"))
        for connection in connections:
            connection.close()


class EngineCount:
    """Counts, on the app's engine, statements sent, disconnects met and pings."""

    def __init__(self, app, monkeypatch) -> None:
        with app.app_context():
            self.engine = db.engine
        self.statements = self.disconnects = self.pings = 0
        self._lock = threading.Lock()
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "handle_error", self._error)
        ping = self.engine.dialect.do_ping

        def counting_ping(dbapi_connection) -> bool:
            with self._lock:
                self.pings += 1
            return ping(dbapi_connection)

        monkeypatch.setattr(self.engine.dialect, "do_ping", counting_ping)

    def _statement(self, *args) -> None:
        with self._lock:
            self.statements += 1

    def _error(self, context) -> None:
        if context.is_disconnect:
            with self._lock:
                self.disconnects += 1

    def reset(self) -> None:
        with self._lock:
            self.statements = self.disconnects = self.pings = 0

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "handle_error", self._error)


@pytest.fixture
def engine_count(app, monkeypatch) -> Iterator[EngineCount]:
    count = EngineCount(app, monkeypatch)
    yield count
    count.remove()


def database_url(app) -> str:
    return app.config["SQLALCHEMY_DATABASE_URI"]


# A connection killed on demand needs PostgreSQL: these tests run there only.
ONLY_POSTGRES = pytest.mark.parametrize("backend", ["postgresql"])


def on_postgres(app) -> bool:
    return database_url(app).startswith("postgresql")


def bearer_headers(app, live, seeded: OAuthSeed) -> dict[str, str]:
    code = create_codes(app, seeded, seeded.legacy.member_id, 1)[0]
    response = exchange(live.url, seeded, code)
    assert response.status_code == 200, response.text[:300]
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def basic_headers(app, seeded: OAuthSeed) -> dict[str, str]:
    with app.app_context():
        user = db.session.get(User, seeded.legacy.member_id)
        legacy_app = db.session.scalar(select(LegacyApp).where(
            LegacyApp.app_token == seeded.legacy.app_token))
        _, token = legacy_tokens.issue_legacy_token(user, legacy_app, GRANT_USER_TOKEN)
        db.session.commit()
        db.session.remove()
    return basic("Member", token)


def me(url: str, headers: dict[str, str]) -> requests.Response:
    return requests.get(url + "/api/v1/me", headers=headers, timeout=30)


def assert_exchanged_once(app, live, seeded: OAuthSeed, code: str,
                          response: requests.Response) -> None:
    """The exchange answered tokens, a replay is ``invalid_grant``, and the store holds
    the one redemption: the code used, one grant, one pair of tokens."""
    assert response.status_code == 200, response.text[:500]
    assert {"access_token", "refresh_token", "id_token"} <= response.json().keys()
    replay = exchange(live.url, seeded, code)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant", replay.text
    with app.app_context():
        row = db.session.scalar(select(AuthorizationCode)
                                .where(AuthorizationCode.grant_id.is_not(None))
                                .order_by(AuthorizationCode.used_at.desc()))
        assert row.used_at is not None
        grant = db.session.get(Grant, row.grant_id)
        assert sorted(t.kind for t in grant.tokens) == ["access", "refresh"]
        db.session.remove()


# --- in process: one app, one pool ----------------------------------------------------------


@pytest.mark.parametrize("scheme", ["bearer", "basic"])
def test_every_request_after_the_backends_were_killed_answers_200(app, live, engine_count,
                                                                  scheme):
    seeded = seed_client(app)
    headers = (bearer_headers(app, live, seeded) if scheme == "bearer"
               else basic_headers(app, seeded))
    assert me(live.url, headers).status_code == 200
    fill_pool(app)
    killed = kill_backends(database_url(app))
    engine_count.reset()

    statuses = [me(live.url, headers).status_code for _ in range(REQUESTS_AFTER_KILL)]

    assert statuses == [200] * REQUESTS_AFTER_KILL
    if on_postgres(app):
        assert killed >= POOL_SIZE
        # One failed statement for the whole pool: the others were replaced at checkout.
        assert engine_count.disconnects == 1
    else:
        assert engine_count.disconnects == 0


def test_requests_arriving_together_after_the_kill_all_answer_200(app, live, engine_count):
    seeded = seed_client(app)
    headers = bearer_headers(app, live, seeded)
    fill_pool(app)
    kill_backends(database_url(app))
    statuses = race(POOL_SIZE, lambda: me(live.url, headers).status_code)
    assert statuses == [200] * POOL_SIZE
    # Each request that took a dead connection before the pool was invalidated met
    # it on its first statement, and was run again.
    assert (engine_count.disconnects >= 1) == on_postgres(app)


def test_a_code_exchanged_right_after_the_kill_is_redeemed_once(app, live, engine_count):
    seeded = seed_client(app)
    code = create_codes(app, seeded, seeded.legacy.member_id, 1)[0]
    fill_pool(app)
    kill_backends(database_url(app))
    engine_count.reset()

    response = exchange(live.url, seeded, code)

    assert engine_count.disconnects == (1 if on_postgres(app) else 0)
    assert_exchanged_once(app, live, seeded, code, response)


@pytest.mark.parametrize("app_config", [{"TOKEN_CACHE_SECONDS": 0, "RATELIMIT_ENABLED": True,
                                         "TOKEN_RATE_LIMIT": "2 per minute"}])
@ONLY_POSTGRES
def test_a_retried_request_counts_once_against_its_rate_limit(app, live):
    seeded = seed_client(app)
    code = create_codes(app, seeded, seeded.legacy.member_id, 1)[0]
    fill_pool(app)
    kill_backends(database_url(app))

    assert exchange(live.url, seeded, code).status_code == 200
    assert exchange(live.url, seeded, code).status_code == 400  # the replay: 2 of 2
    assert exchange(live.url, seeded, code).status_code == 429


# --- what is run again, and what is not -----------------------------------------------------


def add_view(app, name: str, body: Callable[[int], object]) -> list[int]:
    """A view at ``GET /test-db/<name>`` running ``body(call number)`` (in a
    transaction unless it asks otherwise); returns the list of its calls, so a test
    can tell how often it ran."""
    calls: list[int] = []

    def view():
        calls.append(len(calls) + 1)
        body(len(calls))
        return {"ok": True}

    app.add_url_rule(f"/test-db/{name}", f"test_db_{name}", view)
    return calls


def call_view(live, name: str) -> requests.Response:
    return requests.get(f"{live.url}/test-db/{name}", timeout=30)


def kill_own_backend() -> None:
    """The statement that kills the backend running it: a disconnect, on demand."""
    db.session.execute(select(func.pg_terminate_backend(func.pg_backend_pid())))


def kill_own_backend_in_plain_sql() -> None:
    """The same, as SQL text: SQLAlchemy cannot tell that it only reads."""
    db.session.execute(sa.text(
        "DO $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); END $$"))


def test_a_failure_that_is_not_a_disconnect_is_not_retried(app, live, engine_count):
    with app.app_context():
        db.session.add(Site(name="Taken"))
        db.session.commit()

    def insert_duplicate(_: int) -> None:
        db.session.add(Site(name="Taken"))
        db.session.flush()  # the request's first statement: an IntegrityError

    calls = add_view(app, "duplicate", insert_duplicate)
    engine_count.reset()
    assert call_view(live, "duplicate").status_code == 500
    assert calls == [1]
    assert engine_count.statements == 1


@ONLY_POSTGRES
def test_a_disconnect_on_the_first_statement_is_retried_on_a_fresh_connection(app, live):
    calls = add_view(app, "first", lambda call: kill_own_backend() if call == 1 else None)
    assert call_view(live, "first").status_code == 200
    assert calls == [1, 2]


@ONLY_POSTGRES
def test_a_second_disconnect_is_not_retried(app, live):
    calls = add_view(app, "always", lambda _: kill_own_backend())
    assert call_view(live, "always").status_code == 500
    assert calls == [1, 2]


@ONLY_POSTGRES
def test_a_disconnect_after_the_first_statement_is_not_retried(app, live):
    def read_then_die(_: int) -> None:
        db.session.execute(sa.text("SELECT 1"))
        kill_own_backend()

    calls = add_view(app, "second", read_then_die)
    assert call_view(live, "second").status_code == 500
    assert calls == [1]


@ONLY_POSTGRES
def test_a_disconnect_after_a_commit_is_not_retried(app, live):
    # As the token endpoint commits its redemption before it answers.

    def commit_then_die(_: int) -> None:
        with own_transaction():
            db.session.add(Site(name="Committed"))
        kill_own_backend()

    calls = add_view(app, "committed", commit_then_die)
    assert call_view(live, "committed").status_code == 500
    assert calls == [1]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Site)
                                 .where(Site.name == "Committed")) == 1
        db.session.remove()


def kill_own_backend_resendable() -> None:
    """The same, marked as harmless to send twice."""
    db.session.execute(sa.text(
        "DO $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); END $$"
    ).execution_options(**{RESENDABLE: True}))


@pytest.mark.parametrize(("statement", "runs"), [(kill_own_backend, [1, 2]),
                                                 (kill_own_backend_in_plain_sql, [1]),
                                                 (kill_own_backend_resendable, [1, 2])])
@ONLY_POSTGRES
def test_in_autocommit_only_a_read_or_a_resendable_write_is_sent_again(app, live, statement,
                                                                        runs):
    # Without a transaction a statement commits by itself: one that may write is
    # not sent again, as the server may have run it before the connection died.

    def first_in_autocommit(call: int) -> None:
        read_without_transaction("GET")
        if call == 1:
            statement()

    calls = add_view(app, "autocommit", first_in_autocommit)
    assert call_view(live, "autocommit").status_code == (200 if runs == [1, 2] else 500)
    assert calls == runs


# --- no ping ----------------------------------------------------------------------------------


def test_a_checkout_sends_no_ping(app, live, engine_count):
    seeded = seed_client(app)
    headers = bearer_headers(app, live, seeded)
    assert me(live.url, headers).status_code == 200  # the pool's connection is not fresh now
    engine_count.reset()
    for _ in range(3):
        assert me(live.url, headers).status_code == 200
    assert engine_count.statements >= 3
    assert engine_count.pings == 0


@pytest.mark.parametrize("app_config", [{"TOKEN_CACHE_SECONDS": 0,
                                         "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True}}])
def test_an_operators_engine_options_still_win(app, live, engine_count):
    seeded = seed_client(app)
    headers = bearer_headers(app, live, seeded)
    assert me(live.url, headers).status_code == 200
    engine_count.reset()
    assert me(live.url, headers).status_code == 200
    assert engine_count.pings >= 1


# --- through gunicorn -------------------------------------------------------------------------

WORKERS = 2


@pytest.fixture(scope="module")
def gunicorn_server(tmp_path_factory) -> Iterator[Gunicorn]:
    """gunicorn with two sync workers (a pool each) on a PostgreSQL database of its own."""
    for database in _fresh_database():
        server = Gunicorn(workers=WORKERS, database_url=database,
                          instance_path=str(tmp_path_factory.mktemp("restart-instance")),
                          log_dir=tmp_path_factory.mktemp("restart-logs"),
                          TOKEN_CACHE_SECONDS="0")
        try:
            yield server.start()
        finally:
            server.stop()


@pytest.fixture
def gunicorn_store(gunicorn_server) -> Iterator:
    app = seeding_app(gunicorn_server.database_url, gunicorn_server.instance_path)
    clean(app)
    yield app
    dispose(app)  # its pooled connections may have been killed: no retry outside requests
    clean(app)
    dispose(app)


class _Live:
    def __init__(self, url: str) -> None:
        self.url = url


def test_through_gunicorn_killed_backends_cost_no_request(gunicorn_server, gunicorn_store):
    server, app = gunicorn_server, gunicorn_store
    seeded = seed_client(app)
    live = _Live(server.url)
    codes = create_codes(app, seeded, seeded.legacy.member_id, 2)
    response = exchange(server.url, seeded, codes[0])
    assert response.status_code == 200, response.text[:300]
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def me_everywhere() -> list[int]:
        # Fresh connections, so that the requests spread over both workers.
        return [fresh_get(server.url + "/api/v1/me", headers).status_code
                for _ in range(4 * WORKERS)]

    # Most likely every worker holds a pooled connection now; which worker answers is
    # the kernel's choice, so only "at least one was killed" is certain.
    assert set(me_everywhere()) == {200}
    assert kill_backends(server.database_url) >= 1
    assert set(me_everywhere()) == {200}

    assert set(me_everywhere()) == {200}
    assert kill_backends(server.database_url) >= 1
    dispose(app)  # the test's own pool died too; it has no retry
    assert_exchanged_once(app, live, seeded, codes[1], exchange(server.url, seeded, codes[1]))

    log = server.errors()
    assert "unhandled error" not in log, log[-3000:]
    assert "run again on a fresh connection" in log, log[-3000:]
