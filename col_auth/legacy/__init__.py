"""The Connections Online face: /developer, /auth and the signed packets."""

from flask import Blueprint

bp = Blueprint("legacy", __name__)

from . import authorize, developer  # noqa: E402,F401
