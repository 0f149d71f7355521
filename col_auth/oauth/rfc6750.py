"""RFC 6750: Bearer tokens in the ``Authorization`` header, and the errors."""

from __future__ import annotations

from flask import Request, Response, jsonify

from ..core.grants import Principal
from ..core.oauth_tokens import validate_access_token
from ..http_auth import bearer_token

REALM = 'realm="col_auth"'


def challenge(error: str | None = None, scope: str | None = None) -> str:
    value = f"Bearer {REALM}"
    if error:
        value += f', error="{error}"'
    if scope:
        value += f', scope="{scope}"'
    return value


def failure(status: int, error: str, message: str, scope: str | None = None) -> Response:
    """§3.1: 401 ``invalid_token``, 403 ``insufficient_scope``, 400 ``invalid_request``."""
    response = jsonify(error=error, error_description=message)
    response.status_code = status
    response.headers["WWW-Authenticate"] = challenge(error, scope)
    return response


def authenticate(request: Request, required_scope: str
                 ) -> tuple[Principal | None, Response | None]:
    """The principal of a Bearer request with ``required_scope``, or a failure response."""
    header = request.headers.get("Authorization")
    if not header:
        response = failure(401, "invalid_token", "A Bearer access token is required.")
        response.headers["WWW-Authenticate"] = challenge()  # §3.1: no error code if none sent
        return None, response
    token = bearer_token(header)
    principal = validate_access_token(token) if token else None
    if principal is None:
        return None, failure(401, "invalid_token",
                             "The access token is malformed, unknown, expired or revoked.")
    if required_scope not in principal.scopes:
        return None, failure(403, "insufficient_scope",
                             f"The access token lacks the {required_scope!r} scope.",
                             scope=required_scope)
    return principal, None
