"""Files the service creates are the service's alone (issue 9, finding 14): the
instance directory is 0700, the generated keys and the SQLite database (password
hashes, the audit trail) with its -wal and -shm files 0600. What an operator made
beforehand keeps the mode the operator gave it.

Each test sets the umask to 022, the usual one, under which a file created with the
default mode is world-readable: a umask of 077 would make these tests pass on any code.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from col_auth import create_app
from col_auth.config import generate_secret_key, load_or_create_secret
from col_auth.core.models import Site
from col_auth.database import upgrade_database
from col_auth.extensions import db

KEY_FILES = ("secret_key", "encryption.key", "client_secret_hash.key")
DATABASE = "col_auth.sqlite"


@pytest.fixture(autouse=True)
def usual_umask(monkeypatch) -> Iterator[None]:
    # No database or instance path of the test run's own: the defaults are under test.
    monkeypatch.delenv("COL_AUTH_DATABASE_URL", raising=False)
    monkeypatch.delenv("COL_AUTH_INSTANCE_PATH", raising=False)
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _app_with_a_write(instance: Path):
    """The app on its default SQLite database, migrated, with one row written; the
    engine stays open, so the -wal and -shm files are there to be looked at."""
    app = create_app({"INSTANCE_PATH": str(instance), "TESTING": True,
                      "RATELIMIT_ENABLED": False})
    upgrade_database(app)
    with app.app_context():
        db.session.add(Site(name="permissions"))
        db.session.commit()
    return app


def _dispose(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_instance_directory_keys_and_sqlite_files_are_created_private(tmp_path):
    instance = tmp_path / "var" / "instance"
    app = _app_with_a_write(instance)
    try:
        assert _mode(instance) == 0o700
        for name in KEY_FILES:
            assert _mode(instance / name) == 0o600, name
        assert _mode(instance / DATABASE) == 0o600
        sidecars = [instance / f"{DATABASE}-wal", instance / f"{DATABASE}-shm"]
        assert any(path.exists() for path in sidecars)  # WAL mode, engine still open
        for path in sidecars:
            if path.exists():
                assert _mode(path) == 0o600, path.name
    finally:
        _dispose(app)


def test_key_file_directory_is_created_private(tmp_path):
    key = tmp_path / "keys" / "secret_key"
    load_or_create_secret(key, generate_secret_key)
    assert _mode(key.parent) == 0o700
    assert _mode(key) == 0o600


def test_what_the_operator_created_keeps_its_mode(tmp_path, caplog):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    os.chmod(instance, 0o755)
    database = instance / DATABASE
    database.touch()
    os.chmod(database, 0o644)
    with caplog.at_level(logging.WARNING):
        app = _app_with_a_write(instance)
    try:
        assert _mode(instance) == 0o755
        assert _mode(database) == 0o644
        assert any(str(database) in r.getMessage() and "0o644" in r.getMessage()
                   for r in caplog.records), caplog.text
    finally:
        _dispose(app)


def test_a_private_database_file_of_the_operator_draws_no_warning(tmp_path, caplog):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / DATABASE).touch(mode=0o600)
    with caplog.at_level(logging.WARNING):
        app = _app_with_a_write(instance)
    try:
        assert not [r for r in caplog.records if DATABASE in r.getMessage()], caplog.text
    finally:
        _dispose(app)
