"""``create_app``: settings, extensions, the protocol faces (blueprints) and the CLI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .config import (
    DEFAULTS,
    ENV_PREFIX,
    generate_secret_key,
    instance_file,
    load_or_create_secret,
)
from .extensions import csrf, db, limiter, login_manager, migrate

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The col_auth app, configured from defaults, ``COL_AUTH_*`` env vars and ``config``."""
    config = dict(config or {})
    instance_path = config.pop("INSTANCE_PATH", None) or os.environ.get(
        f"{ENV_PREFIX}_INSTANCE_PATH"
    )
    app = Flask("col_auth", instance_path=instance_path, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env(ENV_PREFIX)
    app.config.update(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    _derive_settings(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None

    from .core.crypto import SecretBox

    app.extensions["col_auth.secret_box"] = SecretBox(app.config["ENCRYPTION_KEYS"])

    from . import web
    from .accounts import bp as accounts_bp
    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .legacy import bp as legacy_bp
    from .oauth import bp as oauth_bp

    app.register_blueprint(accounts_bp)
    app.register_blueprint(legacy_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(oauth_bp)
    app.register_blueprint(admin_bp)
    web.init_app(app)
    from . import ops

    ops.init_app(app)

    from .cli import register_commands

    register_commands(app)
    return app


def _derive_settings(app: Flask) -> None:
    """Fill in what defaults cannot know: instance files, the database URL, cookie flags."""
    cfg = app.config
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = load_or_create_secret(
            instance_file(app.instance_path, "secret_key"), generate_secret_key
        )
    keys = cfg.get("ENCRYPTION_KEYS") or ""
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    if not keys:
        from .core.crypto import generate_fernet_key

        keys = [
            load_or_create_secret(
                instance_file(app.instance_path, "encryption.key"), generate_fernet_key
            )
        ]
    cfg["ENCRYPTION_KEYS"] = keys

    if not cfg.get("CLIENT_SECRET_HASH_KEY"):
        cfg["CLIENT_SECRET_HASH_KEY"] = load_or_create_secret(
            instance_file(app.instance_path, "client_secret_hash.key"), generate_secret_key
        )

    url = cfg.get("SQLALCHEMY_DATABASE_URI") or cfg.get("DATABASE_URL")
    if not url:
        url = "sqlite:///" + str(instance_file(app.instance_path, "col_auth.sqlite"))
    cfg["SQLALCHEMY_DATABASE_URI"] = url
    options = dict(cfg.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if url.startswith("sqlite"):
        options.setdefault("connect_args", {"timeout": 30})
    else:
        options.setdefault("pool_pre_ping", True)
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = options

    issuer = str(cfg["ISSUER"]).rstrip("/")
    cfg["ISSUER"] = issuer
    if issuer.startswith("https://"):
        cfg.setdefault("SESSION_COOKIE_SECURE", True)
        cfg["SESSION_COOKIE_SECURE"] = True
        cfg["REMEMBER_COOKIE_SECURE"] = True

    # Behind a load balancer, trust this many X-Forwarded-* hops (0: none).
    hops = int(cfg.get("PROXY_FIX_HOPS", 0) or 0)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:  # noqa: ARG001
    """WAL and a busy timeout let several workers share one SQLite file."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
