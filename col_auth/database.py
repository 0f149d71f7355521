"""The database around a request or a command: the schema, who commits, and how a
read-only request reads.

The transaction rule (``core.transaction``): the core only flushes; a request
commits once, after its view returned (``_commit_at_end``); when the view
raised, the error handler rolled back first (``web.errors``), so only what the
handler itself recorded, such as the audit row of a refusal, is committed.
"""

from __future__ import annotations

from flask import Flask, Response
from flask_migrate import upgrade
from sqlalchemy import event

from .extensions import db

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


def init_app(flask_app: Flask) -> None:
    """SQLite's pragmas on this app's engine only, and the commit at a request's end."""
    with flask_app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    flask_app.after_request(_commit_at_end)
