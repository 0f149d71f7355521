"""The Flask extensions, created unbound and initialised by ``create_app``."""

from __future__ import annotations

import ipaddress

from flask import request
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


def client_address() -> str | None:
    """The client's address, normalised, or None if it is not one: behind
    ``PROXY_FIX_HOPS`` it comes from X-Forwarded-For, text that audit rows and
    rate-limit keys must not take as it is (a key as long as the header)."""
    try:
        return str(ipaddress.ip_address(request.remote_addr or ""))
    except ValueError:
        return None


limiter = Limiter(key_func=lambda: client_address() or "invalid-address")
