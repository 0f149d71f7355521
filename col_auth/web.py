"""What every page and endpoint shares: security headers, error pages, small helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    make_response,
    render_template,
    request,
)
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .core.errors import CoreError
from .extensions import db, login_manager

T = TypeVar("T")

# Pages cannot be framed (clickjacking on consent pages) and load nothing foreign.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def client_ip() -> str | None:
    return request.remote_addr


def is_api_request() -> bool:
    """Machine endpoints answer errors in JSON; pages (the consent page too) in HTML."""
    path = request.path
    if path.startswith("/api/o/oauth/v2/authorize"):
        return False
    return path.startswith("/api/") or path.startswith("/.well-known/")


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


def commit_or_form_error(form, change: Callable[[], T]) -> T | None:
    """Run ``change`` (a call into the core) and commit; on a ``CoreError`` roll back,
    show its message on ``form`` and return None: nothing half-written."""
    try:
        result = change()
    except CoreError as exc:
        db.session.rollback()
        form.form_errors.append(exc.message)
        return None
    db.session.commit()
    return result


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
        abort(404)
    response = make_response(icon)
    response.headers["Content-Type"] = mimetype
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def no_store(response: Response) -> Response:
    """Responses carrying secrets are never cached (RFC 6749 §5.1)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def error_page(status: int, code: str, message: str) -> tuple[str, int]:
    return render_template("errors/error.html", status=status, code=code, message=message), status


def json_error(status: int, code: str, message: str) -> Response:
    response = jsonify(error=code, error_description=message)
    response.status_code = status
    return response


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_security_headers)

    @login_manager.user_loader
    def load_user(user_id: str):
        from .core.models import User

        user = db.session.get(User, user_id)
        return user if user is not None and user.active else None

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError):
        if is_api_request():
            return json_error(400, "csrf_failed", exc.description)
        return error_page(400, "csrf_failed",
                          "The form expired or did not come from this site. Go back and try again.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        code = {
            400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
            405: "method_not_allowed", 413: "too_large", 429: "rate_limited",
        }.get(status, "http_error")
        message = exc.description or exc.name
        if status == 429:
            message = "Too many requests. Wait a little and try again."
        if is_api_request():
            response = json_error(status, code, message)
        else:
            body, _ = error_page(status, code, message)
            response = app.make_response((body, status))
        for name, value in exc.get_headers():
            if name.lower() == "retry-after":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        db.session.rollback()
        if is_api_request():
            return json_error(500, "server_error", "An unexpected error occurred.")
        return error_page(500, "server_error", "An unexpected error occurred.")

    @app.context_processor
    def template_globals():
        return {"issuer": app.config["ISSUER"]}
