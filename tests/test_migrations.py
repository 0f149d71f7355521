"""Alembic migrations upgrade an existing database in place, data intact."""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask_migrate import upgrade

from col_auth import create_app
from col_auth.core.crypto import token_hash
from col_auth.extensions import db
from tests import conftest

GUID = "5F0C1A2B-3C4D-4E5F-8A9B-0C1D2E3F4A5B"
TOKEN = "{UserToken}" + GUID


def _fresh_database(backend: str, tmp_path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/migrate.sqlite"
    name = f"col_auth_migrate_{os.getpid()}"
    conftest._admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conftest._admin_execute(f'CREATE DATABASE "{name}"')
    return sa.make_url(conftest.PG_URL).set(database=name).render_as_string(hide_password=False)


def test_upgrade_from_first_migration_keeps_data(backend, tmp_path, instance_dir):
    url = _fresh_database(backend, tmp_path)
    app = create_app({"INSTANCE_PATH": instance_dir, "DATABASE_URL": url, "TESTING": True,
                      "RATELIMIT_ENABLED": False})
    try:
        with app.app_context():
            directory = app.extensions["migrate"].directory
            upgrade(directory=directory, revision="0001")
            with db.engine.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO sites (id, name, created_at) VALUES ('S1', 'Old CU', :now)"),
                    {"now": "2026-01-01 00:00:00"})
                conn.execute(sa.text(
                    "INSERT INTO users (id, username, username_key, full_name, email, site_id,"
                    " role, is_system_admin, password_hash, active, created_at) VALUES"
                    " ('U1', 'Old', 'old', 'Old Timer', '', 'S1', 'member', false, 'x', true,"
                    " '2026-01-01 00:00:00')"))
                conn.execute(sa.text(
                    "INSERT INTO grants (id, kind, user_id, site_id, created_at) VALUES"
                    " ('G1', 'user_token', 'U1', 'S1', '2026-01-01 00:00:00')"))
                conn.execute(sa.text(
                    "INSERT INTO tokens (grant_id, kind, token_hash, created_at) VALUES"
                    " ('G1', 'user_token', :h, '2026-01-01 00:00:00')"), {"h": token_hash(TOKEN)})
            upgrade(directory=directory)
            with db.engine.connect() as conn:
                head = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
                assert head != "0001"
                grant = conn.execute(sa.text(
                    "SELECT kind, client_pk, scope FROM grants WHERE id = 'G1'")).one()
                assert tuple(grant) == ("user_token", None, None)
            from col_auth.core.legacy_tokens import validate_legacy_token

            principal = validate_legacy_token("OLD", TOKEN)
            assert principal is not None and principal.user.full_name == "Old Timer"
    finally:
        with app.app_context():
            db.engine.dispose()
        if backend == "postgresql":
            conftest._admin_execute(
                f'DROP DATABASE IF EXISTS "col_auth_migrate_{os.getpid()}" WITH (FORCE)')
