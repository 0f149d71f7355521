"""What the benchmarks run against: a database of their own, the service's app on it
(for seeding and in-process timing), the environment of its gunicorn, and Redis.

PostgreSQL runs stand for a multi-host deployment, which has Redis: the service
gets ``COL_AUTH_RATELIMIT_STORAGE_URI`` pointing at it (rate limiting itself stays
off). SQLite runs stand for the embedded single-host default: no Redis.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Database 9: the bench flushes it, so it must not be one anything else uses.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"


def default_postgres_url() -> str:
    return os.environ.get("COL_AUTH_BENCH_POSTGRES_URL",
                          os.environ.get("COL_AUTH_TEST_DATABASE_URL", DEFAULT_PG_URL))


class Database:
    """A database of the bench's own, made fresh and dropped afterwards."""

    def __init__(self, kind: str, workdir: Path, admin_url: str, suffix: str = "") -> None:
        self.kind = kind
        self.admin_url = admin_url
        if kind == "sqlite":
            self.url = f"sqlite:///{workdir / 'bench.sqlite'}"
        else:
            self.name = f"col_auth_bench_{os.getpid()}{suffix}"
            self.url = sa.make_url(admin_url).set(database=self.name).render_as_string(
                hide_password=False)

    def _admin(self, statement: str) -> None:
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(statement))
        finally:
            engine.dispose()

    def create(self) -> None:
        if self.kind == "postgresql":
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        if self.kind == "postgresql":
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def server_version(self) -> str:
        engine = sa.create_engine(self.admin_url)
        try:
            with engine.connect() as conn:
                return str(conn.execute(sa.text("SHOW server_version")).scalar()).split()[0]
        finally:
            engine.dispose()


def redis_for(kind: str, redis_url: str) -> str:
    """The Redis the service gets on ``kind``: ``redis_url`` on PostgreSQL, none on SQLite."""
    return redis_url if kind == "postgresql" else ""


def flush_redis(url: str) -> None:
    """Empty the bench's Redis database, so no state of an earlier run is read."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


def service_app(database: Database, instance: Path, redis_url: str = "",
                token_cache: bool = True) -> Flask:
    """The service's app on ``database``, schema upgraded, for seeding and in-process timing.

    ``token_cache=False`` turns off the per-worker cache of validations
    (``TOKEN_CACHE_SECONDS=0``), so that every validation runs the query."""
    from col_auth import create_app
    from col_auth.database import upgrade_database

    config = {
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": database.url,
        "RATELIMIT_ENABLED": False,
        # Seeding only: nobody signs in as the bench user.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        # B4 times the read path; validating a seeded token must not write.
        "LAST_USED_RESOLUTION": 86400,
    }
    if redis_url:
        config["RATELIMIT_STORAGE_URI"] = redis_url
    if not token_cache:
        config["TOKEN_CACHE_SECONDS"] = 0
    app = create_app(config)
    upgrade_database(app)
    return app


def service_env(database: Database, instance: Path, redis_url: str = "") -> dict[str, str]:
    """The environment of the service's gunicorn (the other apps take the same)."""
    env = {
        "COL_AUTH_DATABASE_URL": database.url,
        "COL_AUTH_INSTANCE_PATH": str(instance),
        "COL_AUTH_RATELIMIT_ENABLED": "false",
    }
    if redis_url:
        env["COL_AUTH_RATELIMIT_STORAGE_URI"] = redis_url
    return env


def fresh_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
