"""The revocation generation: a value that changes whenever a cached token
validation may have become wrong, seen by every worker of every host.

Each worker keeps the token validations it made (``token_cache``), and trusts
one only while the generation it was made under is still the current one. So
every write that could turn a valid token invalid, or change what its validation
returns, must change the generation before anyone can observe the write:

- *which writes*: an UPDATE of a watched column, or any DELETE, on the tables the
  validation queries read (``REVOKING_COLUMNS``). They are recognised on the
  engine (``before_execute``), whatever issued them: the ORM's flush, a bulk
  ``update()``, a Core statement, raw SQL text. No call site has to remember to
  bump anything, so a new way to revoke cannot forget it.
- *where the generation lives* (``GenerationStore``):
  - SQLite (the embedded, single-host default): the one row of
    ``revocation_generation``, set to a fresh random value by the revoking
    transaction itself, before it commits. Readers read it with a connection of
    their own (a few microseconds in process): a reader sees the new value exactly
    when it can see the revocation.
  - PostgreSQL with Redis (``RATELIMIT_STORAGE_URI=redis://…``, as any deployment
    of several hosts has): a Redis key, set to a fresh random value when the
    revoking transaction has ended (the connection's check-in after its commit),
    before the request that revoked answers. A reader reads the key *before* it
    reads the database: if it read the old value, either its database read came
    before the commit (its cache entry dies with the new value) or after it (it
    saw the revocation and cached nothing).
  - PostgreSQL without Redis: nothing to share a generation through cheaply, so
    there is no cache: every request is validated by the database.

A random value rather than a counter: a row or key lost (a wiped table, a Redis
restart) comes back as a value no cache has seen, never as an old one.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
import sqlite3
import threading
from typing import Any, Protocol

from sqlalchemy import CompoundSelect, Delete, Engine, Insert, Select, TextClause, Update, event
from sqlalchemy.sql import visitors

log = logging.getLogger(__name__)

# Table → the columns whose change may invalidate a cached validation (None: any).
# These are what the validation queries read (``legacy_tokens._LEGACY_QUERY``,
# ``oauth_tokens._ACCESS_QUERY``): a token's revocation, expiry or scope; its
# grant's revocation; the user it acts as (activity, role, username, what /me
# shows) and their site. ``last_used_at`` and ``rotated_at`` are not among them: the
# hot writes of validation and refresh never flush a cache.
REVOKING_COLUMNS: dict[str, frozenset[str] | None] = {
    "tokens": frozenset({"revoked_at", "expires_at", "grant_id", "kind", "token_hash",
                         "scope"}),
    "grants": frozenset({"revoked_at", "user_id", "site_id", "kind"}),
    "users": None,
    "sites": None,
}
_READ = "SELECT value FROM revocation_generation WHERE id = 1"
_WRITE = "UPDATE revocation_generation SET value = ? WHERE id = 1"
_INSERT = "INSERT OR IGNORE INTO revocation_generation (id, value) VALUES (1, ?)"
_SQL_WRITE = re.compile(r"^\s*(update|delete)\b", re.IGNORECASE)
_WATCHED_NAMES = re.compile(r"\b(" + "|".join(REVOKING_COLUMNS) + r")\b", re.IGNORECASE)
# Set on a connection that ran a revoking statement: in its current transaction
# (cleared at commit or rollback), and since it was checked out (cleared when it is
# checked in, where the revocation is announced).
_REVOKED = "col_auth.revoked"
_ANNOUNCE = "col_auth.revoked_since_checkout"
# An execution option of the migrations' connection: schema changes are not
# revocations, and the generation table may not exist yet.
MIGRATING = "col_auth_migrating"


def _column_names(keys: Any) -> set[str]:
    names = set()
    for key in keys:
        name = getattr(key, "key", None) or getattr(key, "name", None) or key
        names.add(str(name))
    return names


def _set_columns(statement: Update, parameters: Any) -> set[str] | None:
    """The columns an UPDATE sets, or None if that cannot be told."""
    values = getattr(statement, "_values", None) or getattr(statement, "_ordered_values", None)
    if values:
        return _column_names(dict(values).keys())
    # The ORM's flush builds ``table.update()`` and passes the new values (and the
    # primary key, under its table-qualified label) as parameters.
    if isinstance(parameters, dict) and parameters:
        return _column_names(parameters.keys())
    if isinstance(parameters, list | tuple) and parameters and isinstance(parameters[0], dict):
        return _column_names(parameters[0].keys())
    return None


def revokes(statement: Any, parameters: Any = None) -> bool:
    """Whether executing ``statement`` may invalidate a cached token validation."""
    if isinstance(statement, str | TextClause):
        text = statement if isinstance(statement, str) else statement.text
        return bool(_SQL_WRITE.match(text) and _WATCHED_NAMES.search(text))
    if isinstance(statement, Select | Insert | CompoundSelect):
        # A SELECT or INSERT may carry an UPDATE or DELETE in a CTE (PostgreSQL's
        # data-modifying WITH): judged as if it ran alone.
        return _writes_within(statement)
    if not isinstance(statement, Update | Delete):
        return False
    name = getattr(statement.table, "name", None)
    if name not in REVOKING_COLUMNS:
        return False
    columns = REVOKING_COLUMNS[name]
    if isinstance(statement, Delete) or columns is None:
        return True
    changed = _set_columns(statement, parameters)
    return changed is None or bool(changed & columns)


@functools.lru_cache(maxsize=1024)
def _writes_within(statement: Select | Insert | CompoundSelect) -> bool:
    """Whether an UPDATE or DELETE nested in ``statement`` revokes. Statements of the
    hot paths are built once, so the walk is made once for each."""
    return any(revokes(element) for element in visitors.iterate(statement)
               if isinstance(element, Update | Delete))


class GenerationStore(Protocol):
    """Where the generation lives; see the module's docstring."""

    def read(self) -> object | None:
        """The current generation, or None when it cannot be read (no cache then)."""

    def revoking(self, connection) -> None:
        """A revoking statement is about to run on ``connection`` (once per
        transaction)."""

    def ended(self) -> None:
        """A transaction that ran a revoking statement has ended."""


class NoGeneration:
    """PostgreSQL without Redis: no generation, so no cache."""

    def read(self) -> object | None:
        return None

    def revoking(self, connection) -> None:
        pass

    def ended(self) -> None:
        pass


class SqliteGeneration:
    """The ``revocation_generation`` row, written by the revoking transaction."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def _reader(self) -> sqlite3.Connection:
        reader = getattr(self._local, "connection", None)
        if reader is None:
            # Autocommit: each SELECT sees the latest committed state (WAL).
            reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                     timeout=5)
            self._local.connection = reader
        return reader

    def read(self) -> object | None:
        try:
            reader = self._reader()
            row = reader.execute(_READ
                                 ).fetchone()
            if row is None:  # the row was deleted (a wiped table): any fresh value
                reader.execute(_INSERT, (secrets.randbits(63),))
                row = reader.execute(_READ
                                     ).fetchone()
        except sqlite3.Error:
            return None  # no such table yet (before the migrations), or a busy file
        return row[0] if row else None

    def revoking(self, connection) -> None:
        # In the revoking transaction, so it commits (or rolls back) with it. SQLite
        # has one writer at a time, so taking this row first cannot deadlock.
        value = secrets.randbits(63)
        written = connection.exec_driver_sql(
            _WRITE, (value,)).rowcount
        if not written:
            connection.exec_driver_sql(
                _INSERT,
                (value,))

    def ended(self) -> None:
        pass


class RedisGeneration:
    """A Redis key, set to a fresh value after each revoking transaction ended."""

    KEY = "col_auth:revocation_generation"

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self.errors = redis.RedisError

    def read(self) -> object | None:
        try:
            value = self.client.get(self.KEY)
            if value is None:  # a Redis that lost its data: start from a fresh value
                self.client.set(self.KEY, secrets.token_hex(8), nx=True)
                value = self.client.get(self.KEY)
        except self.errors as exc:
            log.warning("Redis unreachable, validating tokens without the cache: %s", exc)
            return None
        return value

    def revoking(self, connection) -> None:
        pass

    def ended(self) -> None:
        try:
            self.client.set(self.KEY, secrets.token_hex(8))
        except self.errors as exc:
            # The revocation has committed; a worker that cannot read Redis either
            # validates by the database, and cache entries live TOKEN_CACHE_SECONDS.
            log.error("Could not announce a revocation in Redis: %s", exc)


def redis_url(storage_uri: str | None) -> str | None:
    """The Redis of the rate limiter's storage, if it is one (``redis://``,
    ``rediss://``, ``redis+unix://``)."""
    if not storage_uri:
        return None
    if storage_uri.startswith(("redis://", "rediss://")):
        return storage_uri
    if storage_uri.startswith("redis+unix://"):
        return "unix://" + storage_uri.removeprefix("redis+unix://")
    return None


def store_for(engine: Engine, storage_uri: str | None) -> GenerationStore:
    """SQLite's own row for a file database; Redis for any other database when the
    rate limiter's storage is Redis; else none."""
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if not path or path == ":memory:" or engine.url.query.get("uri"):
            return NoGeneration()  # an in-memory database: one process only anyway
        return SqliteGeneration(path)
    url = redis_url(storage_uri)
    return RedisGeneration(url) if url else NoGeneration()


def watch(engine: Engine, store: GenerationStore) -> None:
    """Tell ``store`` about every revoking statement run on ``engine``."""

    def before_execute(conn, clauseelement, multiparams, params, execution_options):
        if conn.info.get(_REVOKED) or not revokes(clauseelement, multiparams or params):
            return
        if execution_options.get(MIGRATING) or conn.get_execution_options().get(MIGRATING):
            return
        conn.info[_REVOKED] = conn.info[_ANNOUNCE] = True
        store.revoking(conn)

    def transaction_ended(conn) -> None:
        # Committed or rolled back: the next transaction on it starts unmarked.
        if not conn.invalidated:  # a dead one's info cannot be read; it revoked nothing
            conn.info.pop(_REVOKED, None)

    def checkin(dbapi_connection, connection_record) -> None:
        # After the commit (the session returns its connection when it commits):
        # announced before the request that revoked has answered.
        # Its transaction is over too (in autocommit no commit event marked it so).
        info = connection_record.info
        info.pop(_REVOKED, None)
        if info.pop(_ANNOUNCE, False):
            store.ended()

    event.listen(engine, "before_execute", before_execute)
    event.listen(engine, "commit", transaction_ended)
    event.listen(engine, "rollback", transaction_ended)
    event.listen(engine, "checkin", checkin)
