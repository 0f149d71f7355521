"""``create_app``: settings, extensions, the protocol faces (blueprints) and the CLI."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import database, ops, web
from .accounts import bp as accounts_bp
from .admin import bp as admin_bp
from .api import bp as api_bp
from .cli import register_commands
from .config import (
    DEFAULTS,
    ENV_PREFIX,
    flag_setting,
    generate_secret_key,
    instance_file,
    list_setting,
    load_or_create_secret,
)
from .core import token_cache
from .core.crypto import SecretBox, generate_fernet_key
from .extensions import db, limiter, login_manager, migrate
from .legacy import bp as legacy_bp
from .oauth import BLUEPRINTS as OAUTH_BLUEPRINTS
from .web import body_size, boundary, cors, forms, hosts, once
from .web.json import JSONProvider
from .web.sessions import CookieSessionInterface

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")


class App(Flask):
    """Flask, with ``ensure_sync`` answered once per function.

    Flask asks it of every hook and view on every request (whether the function is a
    coroutine, through ``inspect``); a function's answer never changes, and with a
    dozen hooks the asking cost more than some of the hooks (issue 11).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._sync[func]
        except KeyError:
            wrapped = self._sync[func] = super().ensure_sync(func)
            return wrapped
        except TypeError:  # an unhashable callable: asked each time, as Flask does
            return super().ensure_sync(func)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The col_auth app, configured from defaults, ``COL_AUTH_*`` env vars and ``config``."""
    config = dict(config or {})
    instance_path = config.pop("INSTANCE_PATH", None) or os.environ.get(
        f"{ENV_PREFIX}_INSTANCE_PATH"
    )
    flask_app = App("col_auth", instance_path=instance_path, instance_relative_config=True)
    flask_app.json = JSONProvider(flask_app)  # deep nesting is a 400, not a RecursionError
    flask_app.config.from_mapping(DEFAULTS)
    flask_app.config.from_prefixed_env(ENV_PREFIX)
    flask_app.config.update(config)
    # Keys and the SQLite database live here: the service's user alone may look in.
    # An existing directory keeps the mode its operator gave it.
    Path(flask_app.instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)
    _derive_settings(flask_app)

    db.init_app(flask_app)
    database.init_app(flask_app)
    token_cache.init_app(flask_app)
    migrate.init_app(flask_app, db, directory=MIGRATIONS_DIR)
    forms.init_app(flask_app)  # Flask-WTF's CSRF protection
    flask_app.session_interface = CookieSessionInterface()
    # First of all hooks: another Host is answered by nothing (not even a redirect).
    flask_app.before_request(hosts.refuse_untrusted_host)
    # Before the limiter's own hook: its key functions read the form.
    flask_app.before_request(body_size.refuse_oversize_form)
    # Then no control character in the path, query, headers or form (web.boundary).
    boundary.init_app(flask_app)
    limiter.init_app(flask_app)
    once.init_app(flask_app)
    login_manager.init_app(flask_app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None
    flask_app.extensions["col_auth.secret_box"] = SecretBox(flask_app.config["ENCRYPTION_KEYS"])

    for blueprint in (accounts_bp, legacy_bp, api_bp, *OAUTH_BLUEPRINTS, admin_bp):
        flask_app.register_blueprint(blueprint)
    web.init_app(flask_app)
    # Browser apps of other origins: discovery and JWKS to all, the token endpoints to
    # their clients' own origins; added to every answer, errors included.
    cors.init_app(flask_app)
    ops.init_app(flask_app)
    register_commands(flask_app)
    return flask_app


def _derive_settings(flask_app: Flask) -> None:
    """Fill in what defaults cannot know: instance files, the database URL, cookie flags."""
    cfg = flask_app.config
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = load_or_create_secret(
            instance_file(flask_app.instance_path, "secret_key"), generate_secret_key
        )
    keys = list(list_setting(cfg.get("ENCRYPTION_KEYS")))
    if not keys:
        keys = [
            load_or_create_secret(
                instance_file(flask_app.instance_path, "encryption.key"), generate_fernet_key
            )
        ]
    cfg["ENCRYPTION_KEYS"] = keys

    if not cfg.get("CLIENT_SECRET_HASH_KEY"):
        cfg["CLIENT_SECRET_HASH_KEY"] = load_or_create_secret(
            instance_file(flask_app.instance_path, "client_secret_hash.key"), generate_secret_key
        )

    url = cfg.get("SQLALCHEMY_DATABASE_URI") or cfg.get("DATABASE_URL")
    if not url:
        url = "sqlite:///" + str(instance_file(flask_app.instance_path, "col_auth.sqlite"))
    cfg["SQLALCHEMY_DATABASE_URI"] = url
    options = dict(cfg.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if url.startswith("sqlite"):
        options.setdefault("connect_args", {"timeout": 30})
    # No pool_pre_ping unless the operator sets it: a ping is a round trip on every
    # checkout. A request whose first statement meets a dead connection is run again
    # on a fresh one instead (database.retry_on_a_fresh_connection).
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = options

    cfg["SESSION_LIFETIME"] = int(cfg["SESSION_LIFETIME"])
    for name in ("TOKEN_CACHE_SECONDS", "TOKEN_CACHE_SIZE"):
        cfg[name] = int(cfg[name])
    # Read once here, so that a value that is neither yes nor no stops the start.
    for flag in ("ALLOW_HTTP_REDIRECT_URIS", "REFRESH_SLIDING"):
        cfg[flag] = flag_setting(cfg[flag])
    cfg["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=cfg["SESSION_LIFETIME"])

    # Our hook checks the Host header against the issuer and these names (web.hosts);
    # Flask's own check, which reads the same setting, is left off.
    cfg["TRUSTED_HOST_NAMES"] = tuple(name.lower()
                                      for name in list_setting(cfg.get("TRUSTED_HOSTS")))
    cfg["TRUSTED_HOSTS"] = None
    cfg["METRICS_ALLOW_NETWORKS"] = tuple(ipaddress.ip_network(cidr, strict=False)
                                          for cidr in list_setting(cfg["METRICS_ALLOW"]))

    issuer = str(cfg["ISSUER"]).rstrip("/")
    cfg["ISSUER"] = issuer
    if issuer.startswith("https://"):
        cfg["SESSION_COOKIE_SECURE"] = True
        cfg["REMEMBER_COOKIE_SECURE"] = True

    # Behind a load balancer, trust this many X-Forwarded-* hops (0: none).
    hops = int(cfg.get("PROXY_FIX_HOPS", 0) or 0)
    if hops:
        flask_app.wsgi_app = ProxyFix(flask_app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
