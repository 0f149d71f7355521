"""One way out: every error becomes a response here, in the format of the blueprint
it happened in.

Each blueprint says once how it answers (``answer_with``): JSON for the protocol
and API endpoints (RFC 6749 §5.2, RFC 6750 §3), an error page for pages, and the
faces that must send some errors back to a client (RFC 6749 §4.1.2.1, the legacy
error packet) wrap the page answer with their own. Whatever escapes a view, a
``CoreError``, one of werkzeug's HTTP errors or a bug, gets a status and a stable
code; only a bug is a 500. Before any answer is built the request's transaction
is rolled back, so a refused request writes nothing but what its answer records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..core.errors import CoreError
from ..extensions import db
from ..http_auth import challenges
from .headers import no_store

CSRF_MESSAGE = "The form expired or did not come from this site. Go back and try again."
RATE_LIMITED_MESSAGE = "Too many requests. Wait a little and try again."
_CODES_BY_STATUS = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "too_large", 429: "rate_limited",
}
# Headers of werkzeug's HTTP errors that a client needs to act on.
_KEPT_HEADERS = ("retry-after", "allow")


@dataclass(frozen=True)
class Problem:
    """What any error comes down to: a status, a stable code, a message for a person."""

    status: int
    code: str
    message: str
    headers: list[tuple[str, str]] = field(default_factory=list)


def problem_of(error: BaseException) -> Problem:
    if isinstance(error, CoreError):
        return Problem(error.status, error.code, error.message,
                       [("WWW-Authenticate", value) for value in challenges(error)])
    if isinstance(error, CSRFError):
        return Problem(400, "csrf_failed", CSRF_MESSAGE)
    if isinstance(error, HTTPException):
        status = error.code or 500
        message = RATE_LIMITED_MESSAGE if status == 429 else (error.description or error.name)
        headers = [(name, value) for name, value in error.get_headers()
                   if name.lower() in _KEPT_HEADERS]
        return Problem(status, _CODES_BY_STATUS.get(status, "http_error"), message, headers)
    return Problem(500, "server_error", "An unexpected error occurred.")


Render = Callable[[BaseException], Response]


def json_response(error: BaseException) -> Response:
    """``{"error": code, "error_description": message}``, never cached (RFC 6749 §5.2)."""
    problem = problem_of(error)
    response = jsonify(error=problem.code, error_description=problem.message)
    response.status_code = problem.status
    for name, value in problem.headers:
        response.headers.add(name, value)
    return no_store(response)


def page_response(error: BaseException) -> Response:
    problem = problem_of(error)
    page = render_template("errors/error.html", status=problem.status, code=problem.code,
                           message=problem.message)
    response = current_app.make_response((page, problem.status))
    for name, value in problem.headers:
        response.headers.add(name, value)
    return response


def negotiated_response(error: BaseException) -> Response:
    """For what no blueprint answers (an unknown URL, a wrong method): a page for
    a browser, JSON for everything else."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return page_response(error) if best == "text/html" else json_response(error)


def _handler(render: Render) -> Callable[[BaseException], Response]:
    def handle(error: BaseException) -> Response:
        db.session.rollback()
        if not isinstance(error, CoreError | HTTPException):
            current_app.logger.exception("unhandled error", exc_info=error)
        return render(error)

    return handle


def answer_with(target: Blueprint | Flask, render: Render) -> None:
    """Answer every error raised in ``target`` (a blueprint, or the app for requests
    no blueprint took) with ``render``."""
    target.register_error_handler(Exception, _handler(render))
