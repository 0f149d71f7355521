"""RFC 6749 rules of the token-side endpoints: form parameters (§3.2) and client
authentication (§2.3)."""

from __future__ import annotations

from flask import request

from ..core.errors import InvalidClient, InvalidRequest
from ..core.models import OAuthClient
from ..core.oauth_clients import authenticate_client
from ..http_auth import client_basic_credentials


def form_params() -> dict[str, str]:
    """The POST body's parameters, each at most once (§3.2: form-encoded; §3.1:
    parameters MUST NOT be included more than once)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        raise InvalidRequest("The body must be application/x-www-form-urlencoded.")
    params: dict[str, str] = {}
    for name, values in request.form.lists():
        if len(values) > 1:
            raise InvalidRequest(f"The parameter {name!r} is repeated.")
        params[name] = values[0]
    return params


def authenticate(params: dict[str, str]) -> OAuthClient:
    """The client of this request, by ``client_secret_basic`` or ``client_secret_post``;
    using both at once is refused (§2.3)."""
    basic = client_basic_credentials()
    if basic is not None:
        if "client_secret" in params:
            raise InvalidRequest("Use one client authentication method, not two.")
        client_id, secret = basic
        if params.get("client_id", client_id) != client_id:
            raise InvalidRequest("client_id differs from the Basic credentials.")
    else:
        client_id, secret = params.get("client_id"), params.get("client_secret")
    if not client_id or not secret:
        raise InvalidClient("Client authentication is required.")
    client = authenticate_client(client_id, secret)
    if client is None:
        raise InvalidClient("Unknown client, wrong secret, or the client is expired or disabled.")
    return client
