"""The Web API (/api/v1) and its one token validator."""

from flask import Blueprint

from ..extensions import csrf

bp = Blueprint("api", __name__)
# Token-authenticated: no cookies, so no CSRF to defend against.
csrf.exempt(bp)

from . import views  # noqa: E402,F401
