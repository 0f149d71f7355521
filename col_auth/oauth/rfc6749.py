"""RFC 6749 rules of the token-side endpoints: form parameters, client
authentication (§2.3) and error responses (§5.2)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from flask import Response, jsonify, request

from ..core.errors import OAuthError
from ..core.models import OAuthClient
from ..core.oauth_clients import authenticate_client
from ..web import no_store

REALM = 'realm="col_auth"'


def error_response(exc: OAuthError) -> Response:
    """§5.2: JSON ``error`` and ``error_description``; ``invalid_client`` is 401 with a
    ``WWW-Authenticate`` challenge."""
    response = jsonify(error=exc.code, error_description=exc.message)
    response.status_code = exc.status
    if exc.code == "invalid_client":
        response.status_code = 401
        response.headers["WWW-Authenticate"] = f"Basic {REALM}"
    return no_store(response)


def form_params() -> dict[str, str]:
    """The POST body's parameters, each at most once (§3.2: form-encoded; §3.1:
    parameters MUST NOT be included more than once)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request",
                         "The body must be application/x-www-form-urlencoded.")
    params: dict[str, str] = {}
    for name, values in request.form.lists():
        if len(values) > 1:
            raise OAuthError("invalid_request", f"The parameter {name!r} is repeated.")
        params[name] = values[0]
    return params


def _basic_credentials() -> tuple[str, str] | None:
    """``client_secret_basic``: both parts are form-urlencoded before base64 (§2.3.1)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise OAuthError("invalid_client", "Malformed Basic client credentials.", 401) from exc
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise OAuthError("invalid_client", "Malformed Basic client credentials.", 401)
    return unquote_plus(client_id), unquote_plus(secret)


def authenticate(params: dict[str, str]) -> OAuthClient:
    """The client of this request, by ``client_secret_basic`` or ``client_secret_post``;
    using both at once is refused (§2.3)."""
    basic = _basic_credentials()
    if basic is not None:
        if "client_secret" in params:
            raise OAuthError("invalid_request",
                             "Use one client authentication method, not two.")
        client_id, secret = basic
        if params.get("client_id", client_id) != client_id:
            raise OAuthError("invalid_request", "client_id differs from the Basic credentials.")
    else:
        client_id, secret = params.get("client_id"), params.get("client_secret")
    if not client_id or not secret:
        raise OAuthError("invalid_client", "Client authentication is required.", 401)
    client = authenticate_client(client_id, secret)
    if client is None:
        raise OAuthError("invalid_client",
                         "Unknown client, wrong secret, or the client is expired or disabled.",
                         401)
    return client
