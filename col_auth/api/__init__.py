"""The Web API (/api/v1): Basic and Bearer tokens through ``http_auth.require_token``."""

from flask import Blueprint

from ..extensions import csrf
from ..web import errors

bp = Blueprint("api", __name__)
# Token-authenticated: no cookies, so no CSRF to defend against.
csrf.exempt(bp)
errors.answer_with(bp, errors.json_response)

from . import views  # noqa: E402,F401
