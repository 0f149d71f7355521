"""The database around a request or a command: the schema, who commits, and how a
read-only request reads.

The transaction rule (``core.transaction``): the core only flushes; a request
commits once, after its view returned (``_commit_at_end``); when the view
raised, the error handler rolled back first (``web.errors``), so only what the
handler itself recorded, such as the audit row of a refusal, is committed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from flask import Flask, Response
from flask_migrate import upgrade
from sqlalchemy import Engine, event

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


def init_app(flask_app: Flask) -> None:
    """SQLite's pragmas on this app's engine only, and the commit at a request's end."""
    with flask_app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        _create_private_sqlite_file(flask_app, engine)
        event.listen(engine, "connect", _sqlite_pragmas)
    flask_app.after_request(_commit_at_end)
