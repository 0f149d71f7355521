"""The database around a request or a command: the schema, who commits, how a
read-only request reads, and what a request does when its connection is dead.

The transaction rule (``core.transaction``): the core only flushes; a request
commits once, after its view returned (``_commit_at_end``); when the view
raised, the error handler rolled back first (``web.errors``), so only what the
handler itself recorded, such as the audit row of a refusal, is committed.

The pool does not ping a connection before lending it (``factory``: no
``pool_pre_ping``): a request whose first statement finds its connection dead
(PostgreSQL restarted, its backends killed, a failover) is run again, once, on a
fresh one (``retry_on_a_fresh_connection``).
"""

from __future__ import annotations

import os
import stat
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app
from flask_migrate import upgrade
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import ExecutionContext
from sqlalchemy.exc import DBAPIError

from .extensions import db, limiter

# Requests that only read (RFC 9110 §9.2.1).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def upgrade_database(flask_app: Flask) -> None:
    """Create the database if missing and apply every migration (idempotent)."""
    with flask_app.app_context():
        upgrade(directory=flask_app.extensions["migrate"].directory)


def read_without_transaction(method: str) -> None:
    """A safe request (GET, HEAD, OPTIONS) only reads: run it without a transaction.

    Each statement then commits by itself, so PostgreSQL is spared the round trips
    of ``BEGIN`` before the validation query and ``ROLLBACK`` when the connection
    goes back to the pool; the one write a read may make (``last_used``, see
    ``principals.touch``) is a conditional UPDATE that needs no transaction around
    it. SQLite's driver opens a transaction only before a write anyway, and
    switching its isolation level costs a PRAGMA each way, so SQLite is left as it is.
    Called where a request is about to read its first row (the token validator).
    """
    if (method in SAFE_METHODS and db.engine.dialect.name != "sqlite"
            and not db.session().in_transaction()):
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def _commit_at_end(response: Response) -> Response:
    """The one commit of a request (see the module's docstring). A request that
    never touched the database (``/healthz``) does not even make a session."""
    if db.session.registry.has():
        session = db.session()
        if session.in_transaction():
            session.commit()
    return response


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:  # noqa: ARG001
    """WAL and a busy timeout let several workers share one SQLite file."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _create_private_sqlite_file(flask_app: Flask, engine: Engine) -> None:
    """Create a file-based SQLite database 0600 before the first connection does.

    It holds password hashes and the audit trail. SQLite would create it with the
    umask's mode (0644 under the usual 022), and creates the -wal and -shm files
    with the database file's mode, so making the empty file first is enough (an
    empty file is a valid empty database). A file that exists is the operator's:
    its mode is left alone, with a warning if others may read it.
    """
    name = engine.url.database
    if not name or name == ":memory:" or engine.url.query.get("uri"):
        return  # in memory, or a file: URI whose options are the operator's
    path = Path(name)
    if not path.parent.is_dir():
        return  # SQLite reports the missing directory itself, as before
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            return  # a dangling symlink, say: SQLite's own error, as before
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            flask_app.logger.warning(
                "The SQLite database %s has mode %s: others than the service's user may "
                "read or change its password hashes and audit trail; chmod 600 it and its "
                "-wal and -shm files.", path, oct(mode))


# --- a dead connection met by a request's first statement -----------------------------

# An execution option for a write that has the same effect sent twice as once (a
# conditional UPDATE, say): sent again even in autocommit, where a write that met a
# dead connection may have been committed by the server all the same.
RESENDABLE = "col_auth_resendable"


@dataclass(slots=True)
class _Attempt:
    """What the request has asked of the database so far (see
    ``retry_on_a_fresh_connection``)."""

    sent: int = 0  # statements sent, up to the first answered
    answered: bool = False  # whether any statement came back without an error
    first_resendable: bool = False  # whether the first could not have committed anything
    retried: bool = False  # whether this is the request's second run


# The request's attempt while it is dispatched (None outside a request). A context
# variable, not flask.g: it is read on every statement, and costs a fraction of g's
# proxy lookups; it is per thread and per request, as Flask's own contexts are.
_ATTEMPT: ContextVar[_Attempt | None] = ContextVar("col_auth_database_attempt", default=None)


def _autocommit(conn: Connection) -> bool:
    """Whether each statement on ``conn`` commits by itself; True when the dialect
    cannot tell (asked without a round trip)."""
    try:
        return conn.dialect.detect_autocommit_setting(conn.connection.dbapi_connection)
    except (NotImplementedError, AttributeError):
        return True


def _resendable(conn: Connection, context: ExecutionContext | None) -> bool:
    """Whether a statement that met a dead connection cannot have taken effect.

    Inside a transaction it cannot: the server rolls the transaction back when its
    connection dies, and only this client could have sent the COMMIT. In autocommit
    it may have been run and committed before the connection died, unless it only
    reads or is marked ``RESENDABLE``."""
    if not _autocommit(conn):
        return True
    invoked = getattr(context, "invoked_statement", None)
    options = getattr(context, "execution_options", None) or {}
    return bool(getattr(invoked, "is_select", False) or options.get(RESENDABLE))


def _statement_sent(conn: Connection, cursor: Any, statement: str, parameters: Any,
                    context: ExecutionContext | None, executemany: bool) -> None:
    """``before_cursor_execute``: count what the request sends, and judge its first."""
    attempt = _ATTEMPT.get()
    if attempt is None or attempt.answered:
        return  # not in a request, or past its first contact: nothing more to know
    attempt.sent += 1
    if attempt.sent == 1:
        attempt.first_resendable = _resendable(conn, context)


def _statement_answered(conn: Connection, cursor: Any, statement: str, parameters: Any,
                        context: ExecutionContext | None, executemany: bool) -> None:
    """``after_cursor_execute``: the database answered; the request is past its first
    contact and is never run again."""
    attempt = _ATTEMPT.get()
    if attempt is not None:
        attempt.answered = True


def _worth_retrying(error: BaseException) -> bool:
    """Whether ``error`` is a dead connection met by the request's first statement,
    which was not answered and could not have taken effect, on the first run."""
    attempt = _ATTEMPT.get()
    return (attempt is not None and not attempt.retried
            and isinstance(error, DBAPIError) and error.connection_invalidated
            and attempt.sent == 1 and not attempt.answered and attempt.first_resendable)


def _is_retry() -> bool:
    """A rate-limiter request filter: a request run again was counted on its first run."""
    attempt = _ATTEMPT.get()
    return attempt is not None and attempt.retried


# Here rather than in ``init_app``: the limiter is one object for every app of the
# process, and a filter must be added to it once.
limiter.request_filter(_is_retry)


def _start_retry(error: DBAPIError) -> None:
    """Log, drop the session's dead transaction, and mark the second run."""
    reason = str(error.orig).strip().splitlines()
    current_app.logger.warning(
        "The database connection was dead at this request's first statement (%s: %s); "
        "the request is run again on a fresh connection.", type(error.orig).__name__,
        reason[0] if reason else "")
    # Nothing to undo in the database (the connection is gone): this ends the
    # session's transaction and forgets what the first run added to the session.
    db.session.rollback()
    _ATTEMPT.set(_Attempt(retried=True))


def retry_on_a_fresh_connection(flask_app: Flask) -> None:
    """Run a request again, once, when its first statement met a dead connection.

    Without ``pool_pre_ping`` a pooled connection is lent as it is; after a restart,
    a failover or ``pg_terminate_backend`` it is dead, and the first statement sent
    on it fails with a disconnect (``DBAPIError.connection_invalidated``, as the
    dialect's ``is_disconnect`` judged it). SQLAlchemy then invalidates the whole
    pool (``Pool._invalidate``): every connection opened before the failure is
    closed and replaced at its next checkout, without a round trip. So one request
    per pool (per worker) meets the dead connection, and it is run again from the
    start — before-request hooks, view, error handlers, after-request hooks — on a
    fresh one.

    Why running it again is safe: it is done only when

    - the error is a disconnect (any other error is the request's answer);
    - the failing statement was the first this request sent, and it was not
      answered: so nothing of the request had reached the database, and nothing was
      committed. A commit needs statements answered before it, so a view that
      committed something (the token endpoint's ``own_transaction()`` steps commit
      when their block's statements have run) is never run again;
    - that statement could not have taken effect itself (``_resendable``);
    - this is the request's first run (never twice).

    What the first run did outside the database before that statement, the second
    does again: here only checks and reading the (cached) request body, and the
    rate limits, which the second run skips (``_is_retry``) as the first counted
    them. A connection that dies after the request's first statement still fails
    the request (500), as it did with a ping before every checkout.

    The error reaches ``handle_user_exception`` first; it is re-raised there, before
    any error handler rolls back and answers, and caught around the whole dispatch.
    """
    dispatch = flask_app.full_dispatch_request
    handle_user_exception = flask_app.handle_user_exception

    def full_dispatch_request() -> Response:
        token = _ATTEMPT.set(_Attempt())
        try:
            try:
                return dispatch()
            except DBAPIError as error:
                if not _worth_retrying(error):
                    raise
                _start_retry(error)
            return dispatch()
        finally:
            _ATTEMPT.reset(token)

    def handle_user_exception_unless_retried(error: Exception) -> Any:
        if _worth_retrying(error):
            raise error  # to full_dispatch_request above, before any handler answers
        return handle_user_exception(error)

    # Flask calls both through the instance, as it would a subclass's.
    flask_app.full_dispatch_request = full_dispatch_request  # type: ignore[method-assign]
    flask_app.handle_user_exception = (  # type: ignore[method-assign]
        handle_user_exception_unless_retried)


def init_app(flask_app: Flask) -> None:
    """SQLite's pragmas on this app's engine only, the commit at a request's end, and
    the run again of a request whose first statement met a dead connection."""
    with flask_app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        _create_private_sqlite_file(flask_app, engine)
        event.listen(engine, "connect", _sqlite_pragmas)
    flask_app.after_request(_commit_at_end)
    event.listen(engine, "before_cursor_execute", _statement_sent)
    event.listen(engine, "after_cursor_execute", _statement_answered)
    retry_on_a_fresh_connection(flask_app)
