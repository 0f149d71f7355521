"""The Connections Online face: /developer, /auth and the signed packets. Errors are
pages, except the refusals /auth sends back to the app as error packets (the
handler is in ``authorize``)."""

from flask import Blueprint

bp = Blueprint("legacy", __name__)

from . import authorize, developer  # noqa: E402,F401
