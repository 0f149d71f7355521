"""What every page and endpoint shares: security headers, the user loader, small
helpers; errors are answered by ``web.errors``."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Flask, Response, current_app, make_response, session

from ..core import accounts
from ..core.errors import CoreError, NotFound
from ..core.models import User
from ..extensions import client_ip as client_ip  # as the rate limiter keys it
from ..extensions import db, login_manager
from . import errors
from .headers import security_headers

# Where the session cookie keeps the id of its server-side sign-in session.
SESSION_ID_KEY = "session_id"


def safe_next_url(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirect)."""
    if not target:
        return default
    if any(ch in target for ch in "\\\r\n\t") or not target.startswith("/"):
        return default
    if target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to its own query, which is kept as it is."""
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def show_on_form(form, error: CoreError) -> None:
    """A core error caught by a form view, to be shown on the form it came from.

    Rolls back whatever the core call had written (the request, answering 400,
    must store nothing), then puts the message where the person will read it.
    """
    db.session.rollback()
    form.form_errors.append(error.message)


def form_status(form) -> int:
    """400 for a form shown again with errors, else 200."""
    return 400 if form.errors or form.form_errors else 200


def read_icon_upload(field) -> bytes | None:
    """The bytes of an uploaded icon (a Flask-WTF FileField), or None if none was sent.

    Reads one byte past ``ICON_MAX_BYTES``, so an oversized file is refused by the
    core's size check without being read whole.
    """
    upload = field.data
    if not upload or not getattr(upload, "filename", ""):
        return None
    return upload.stream.read(current_app.config["ICON_MAX_BYTES"] + 1)


def icon_response(icon: bytes | None, mimetype: str | None) -> Response:
    """A stored icon, public and briefly cached (consent pages show it before anyone
    decides); 404 if there is none."""
    if not icon or not mimetype:
        raise NotFound("no_icon", "There is no icon here.")
    response = make_response(icon)
    response.headers["Content-Type"] = mimetype
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def init_app(flask_app: Flask) -> None:
    flask_app.after_request(security_headers)
    # What no blueprint answers (an unknown URL, a wrong method).
    errors.answer_with(flask_app, errors.negotiated_response)

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        # The cookie names a session; the user is signed in only while the server
        # keeps that session (issue 9: a kept cookie must open nothing after logout).
        user = accounts.session_user(session.get(SESSION_ID_KEY))
        return user if user is not None and user.id == user_id else None

    @flask_app.context_processor
    def template_globals() -> dict[str, str]:
        return {"issuer": flask_app.config["ISSUER"]}
