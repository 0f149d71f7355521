"""The Flask extensions, created unbound and initialised by ``create_app``."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from flask import current_app, request
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


def client_ip() -> str | None:
    """The client's address, normalised, or None if it is not one: behind
    ``PROXY_FIX_HOPS`` it comes from X-Forwarded-For, text that audit rows and
    rate-limit keys must not take as it is (a key as long as the header)."""
    try:
        return str(ipaddress.ip_address(request.remote_addr or ""))
    except ValueError:
        return None


limiter = Limiter(key_func=lambda: client_ip() or "invalid-address")


def limit_from(setting: str) -> Callable[[], str]:
    """A limit for ``limiter.limit`` read from ``setting`` at each request, so that
    the app's configuration, not the one at import, decides."""
    return lambda: current_app.config[setting]
