"""The one validator of /api/v1: ``Basic base64(username:token)`` for legacy tokens and
``Bearer <access_token>`` (with scope ``api``) for OAuth2 access tokens.

Every failure is the same 401 with a stable ``error`` code, so a caller learns
nothing about which part was wrong beyond what it needs to fix its request.
"""

from __future__ import annotations

import base64
import binascii
import time
import unicodedata
from collections.abc import Callable
from functools import wraps

from flask import Response, g, jsonify, request

from ..core import metrics
from ..core.grants import Principal, validate_legacy_token
from ..core.oauth_tokens import validate_access_token
from ..extensions import db
from ..http_auth import bearer_token

# The scope an OAuth2 access token needs for /api/v1.
API_SCOPE = "api"
# Requests that only read (RFC 9110 §9.2.1).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Longer headers are refused before decoding: no token is anywhere near this.
MAX_CREDENTIALS_LENGTH = 4096
REALM = 'realm="col_auth"'


class AuthError(Exception):
    """A refused request: status, stable code, message for a person."""

    def __init__(self, status: int, code: str, message: str, credentials_sent: bool = True
                 ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.credentials_sent = credentials_sent


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """``(username, token)`` from an ``Authorization: Basic`` value, or None if malformed.

    Strict: the base64 must be canonical (no stray characters, exact padding, zero
    unused bits), the text UTF-8 without control characters (C0, DEL, C1), and both
    parts around the first colon non-empty (RFC 7617 §2).
    """
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    credentials = credentials.strip()
    if not credentials or len(credentials) > MAX_CREDENTIALS_LENGTH:
        return None
    try:
        raw = base64.b64decode(credentials, validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(raw).decode("ascii") != credentials:
        return None  # non-zero unused bits: another spelling of the same bytes
    username, colon, token = text.partition(":")
    if not colon or not username or not token:
        return None
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        return None
    return username, token


def _read_without_transaction() -> None:
    """A safe request (GET, HEAD, OPTIONS) only reads: run it without a transaction.

    Each statement then commits by itself, so PostgreSQL is spared the round trips
    of ``BEGIN`` before the validation query and ``ROLLBACK`` when the connection
    goes back to the pool; the one write a read may make (``last_used``, see
    ``touch``) is a conditional UPDATE that needs no transaction around it.
    SQLite's driver opens a transaction only before a write anyway, and switching
    its isolation level costs a PRAGMA each way, so SQLite is left as it is.
    """
    if (request.method in SAFE_METHODS and db.engine.dialect.name != "sqlite"
            and not db.session().in_transaction()):
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def authenticate() -> Principal:
    """The principal of this request, or AuthError."""
    header = request.headers.get("Authorization")
    if not header:
        raise AuthError(401, "invalid_token", "Send Authorization: Basic base64(username:token)"
                        " or Bearer <access_token>.", credentials_sent=False)
    scheme = header.strip().partition(" ")[0].lower()
    if scheme == "basic":
        credentials = parse_basic(header)
        if credentials is None:
            raise AuthError(401, "invalid_token", "The Basic credentials are malformed.")
        _read_without_transaction()
        principal = validate_legacy_token(*credentials)
        if principal is None:
            raise AuthError(401, "invalid_token",
                            "The token is unknown, revoked, or not valid for this username.")
        return principal
    if scheme == "bearer":
        token = bearer_token(header)
        if token:
            _read_without_transaction()
        principal = validate_access_token(token) if token else None
        if principal is None:
            raise AuthError(401, "invalid_token",
                            "The access token is malformed, unknown, expired or revoked.")
        if API_SCOPE not in principal.scopes:
            raise AuthError(403, "insufficient_scope",
                            f"The access token lacks the {API_SCOPE!r} scope.")
        return principal
    raise AuthError(401, "invalid_token", "Unsupported authorization scheme.")


def error_response(exc: AuthError) -> Response:
    response = jsonify(error=exc.code, error_description=exc.message)
    response.status_code = exc.status
    if exc.status == 401:
        response.headers.add("WWW-Authenticate", f"Basic {REALM}")
        # RFC 6750 §3.1: no error code in the challenge when no credentials were sent.
        bearer = f"Bearer {REALM}"
        if exc.credentials_sent:
            bearer += f', error="{exc.code}"'
        response.headers.add("WWW-Authenticate", bearer)
    elif exc.code == "insufficient_scope":
        # RFC 6750 §3.1
        response.headers["WWW-Authenticate"] = (
            f'Bearer {REALM}, error="insufficient_scope", scope="{API_SCOPE}"'
        )
    return response


def token_required(view: Callable) -> Callable:
    """Run ``view`` with ``g.principal`` set, or answer 401 JSON."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        scheme = (request.headers.get("Authorization") or "none").strip().partition(" ")[0]
        scheme = scheme.lower() if scheme.lower() in ("basic", "bearer") else "other"
        started = time.perf_counter()
        try:
            g.principal = authenticate()
        except AuthError as exc:
            metrics.TOKEN_VALIDATIONS.labels(scheme, exc.code).inc()
            return error_response(exc)
        finally:
            metrics.TOKEN_VALIDATION_SECONDS.labels(scheme).observe(time.perf_counter() - started)
        metrics.TOKEN_VALIDATIONS.labels(scheme, "ok").inc()
        return view(*args, **kwargs)

    return wrapper
