"""RFC 6749 rules of the token-side endpoints: form parameters (§3.2) and client
authentication (§2.3): ``client_secret_basic`` and ``client_secret_post`` for
confidential clients, ``none`` for public ones (§2.1)."""

from __future__ import annotations

from flask import request

from ..core.errors import InvalidClient, InvalidRequest
from ..core.models import OAuthClient
from ..core.oauth_clients import find_client_to_authenticate, secret_matches
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


def authenticate(params: dict[str, str], *, allow_public: bool = True) -> OAuthClient:
    """The client of this request: a confidential client by ``client_secret_basic`` or
    ``client_secret_post`` (using both at once is refused, §2.3), a public client by
    ``none``, its ``client_id`` alone in the form (§2.3, §3.2.1).

    Each client has exactly one method: a public client that sends a secret, or a
    confidential client that sends none, is ``invalid_client``. ``allow_public=False``
    refuses public clients altogether (introspection: RFC 7662 §2.1 serves
    protected resources, which must authenticate).
    """
    basic = client_basic_credentials()
    if basic is not None:
        if "client_secret" in params:
            raise InvalidRequest("Use one client authentication method, not two.")
        client_id, secret = basic
        if params.get("client_id", client_id) != client_id:
            raise InvalidRequest("client_id differs from the Basic credentials.")
    else:
        client_id = params.get("client_id")
        if "client_secret" not in params:
            return _public_client(client_id, allow_public)
        secret = params["client_secret"]
    # One query whatever the outcome: the client, and whether it is usable.
    client, usable = find_client_to_authenticate(client_id)
    if not client_id or not secret:
        _refuse_public_with_secret(client)
        raise InvalidClient("Client authentication is required.")
    if not secret_matches(client, secret) or not usable:
        _refuse_public_with_secret(client)
        raise InvalidClient("Unknown client, wrong secret, or the client is expired or disabled.")
    return client


def _public_client(client_id: str | None, allow_public: bool) -> OAuthClient:
    """``token_endpoint_auth_method=none``: the usable public client named by
    ``client_id``. No secret to compare, so nothing to keep constant-time: a
    client_id is no secret (RFC 6749 §2.2)."""
    if not client_id:
        raise InvalidClient("Client authentication is required.")
    client, usable = find_client_to_authenticate(client_id)
    if client is None:
        raise InvalidClient("Unknown client.")
    if not client.public:
        raise InvalidClient("Client authentication is required: this client has a secret.")
    if not allow_public:
        raise InvalidClient("A public client cannot authenticate, and this endpoint is "
                            "for clients that can (protected resources).")
    if not usable:
        raise InvalidClient("Unknown client, or the client is expired or disabled.")
    return client


def _refuse_public_with_secret(client: OAuthClient | None) -> None:
    """Say why a public client's request with a secret fails: it has none to send."""
    if client is not None and client.public:
        raise InvalidClient("A public client has no secret: send its client_id alone, "
                            "with no client_secret and no Basic header.")
