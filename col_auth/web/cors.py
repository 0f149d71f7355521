"""CORS: which pages of other origins may read which answers (issue 10, item 4).

Browser apps (public clients) call the token endpoints from their own pages, on
another origin than ours. Who may read what:

- discovery (``/.well-known/*``) and the JWKS are public documents: any origin,
  answered with ``*``;
- the token and revocation endpoints: the origins of the redirect URIs of the
  client the request names (``client_id`` in the form, or the Basic header);
- UserInfo: the origins of the redirect URIs of the client the presented access
  token was issued to. A token that names no client (garbage, or purged) is
  refused with 401; that refusal is readable by every usable client's origin,
  so that the page learns it must refresh (it carries nothing but the error);
- a preflight (``OPTIONS``) has no body and so names no client: it is answered
  for the origin of any usable client's redirect URI. The actual response then
  carries ``Access-Control-Allow-Origin`` only for that client's own origins.

Everything else (introspection, which serves protected resources, and every
page) gets no CORS header. ``Access-Control-Allow-Credentials`` is never sent:
these endpoints take client ids and tokens, never cookies.

The policy runs after the response is built, so every answer gets it the same
way: a view's, an error handler's (a 401 ``invalid_client`` a page must be able
to read, or the browser hides it), the boundary's 400 and the rate limiter's
429. The headers themselves are flask-cors's (``flask_cors.core``), given the
options of this request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from flask import Flask, Response, current_app, request
from flask_cors.core import get_cors_options, set_cors_headers
from werkzeug.exceptions import HTTPException

from ..core.errors import CoreError
from ..core.models import OAuthClient
from ..core.oauth_clients import find_client, redirect_origins, usable_redirect_origins
from ..core.oauth_tokens import client_of_access_token
from ..http_auth import bearer_token, client_basic_credentials, read_authorization

# Public documents: any origin.
PUBLIC_BLUEPRINTS = frozenset({"discovery"})
PUBLIC_ENDPOINTS = frozenset({"oauth_endpoints.jwks_endpoint"})
# Endpoints whose client is named in the request.
CLIENT_ENDPOINTS = frozenset({"oauth_endpoints.token", "oauth_endpoints.revoke"})
# Endpoints whose client is the access token's.
TOKEN_ENDPOINTS = frozenset({"oauth_endpoints.userinfo"})

# Request headers a page may send: client_secret_basic or Bearer, and the form.
ALLOW_HEADERS = ["Authorization", "Content-Type"]
# Response headers a page may read besides the safelisted ones: the challenge of a
# refused token (RFC 6750 §3) and the wait of a 429.
EXPOSE_HEADERS = ["WWW-Authenticate", "Retry-After"]


def _exactly(origins: Iterable[str]) -> list[re.Pattern[str]]:
    """Origins as patterns that match only themselves: flask-cors takes a string
    holding ``[`` or ``*`` (an IPv6 host) for a regular expression."""
    return [re.compile(re.escape(origin) + r"\Z", re.IGNORECASE) for origin in origins]


def _methods() -> list[str]:
    rule = request.url_rule
    return sorted((rule.methods or set()) - {"OPTIONS", "HEAD"}) if rule else []


def _form_value(name: str) -> str | None:
    """A field of a form-encoded body, or None; never raises (the view, or the
    boundary, has already answered a form it refused)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        return None
    try:
        values = request.form.getlist(name)
    except (CoreError, HTTPException):
        return None
    return values[0] if len(values) == 1 else None


def _named_client() -> OAuthClient | None:
    """The client a token or revocation request names, authenticated or not: its own
    pages must be able to read its refusals too."""
    try:
        basic = client_basic_credentials()
    except CoreError:
        basic = None
    return find_client(basic[0] if basic else _form_value("client_id"))


def _token_client() -> OAuthClient | None:
    token = bearer_token(read_authorization())
    if token is None and request.method == "POST":
        token = _form_value("access_token")  # RFC 6750 §2.2
    return client_of_access_token(token)


def _allowed_origins(response: Response) -> list[str] | None:
    """The origins this response may be read by (``["*"]``: any), or None when the
    endpoint is not for browsers of other origins."""
    endpoint = request.endpoint
    if request.blueprint in PUBLIC_BLUEPRINTS or endpoint in PUBLIC_ENDPOINTS:
        return ["*"]
    if endpoint not in CLIENT_ENDPOINTS and endpoint not in TOKEN_ENDPOINTS:
        return None
    if request.method == "OPTIONS":
        return sorted(usable_redirect_origins())
    client = _named_client() if endpoint in CLIENT_ENDPOINTS else _token_client()
    if client is not None:
        return sorted(redirect_origins(client))
    if endpoint in TOKEN_ENDPOINTS and response.status_code == 401:
        return sorted(usable_redirect_origins())
    return []


def add_cors_headers(response: Response) -> Response:
    """``after_request``: the CORS headers this response may carry (see the module)."""
    if not request.headers.get("Origin") or request.endpoint is None:
        return response  # not a cross-origin request, or no route matched
    origins = _allowed_origins(response)
    if origins is None:
        return response
    anyone = origins == ["*"]
    # Every option given here, so that no CORS_* setting can widen the policy.
    options = get_cors_options(current_app, {
        "origins": "*" if anyone else _exactly(origins),
        "send_wildcard": anyone,
        "methods": _methods(),
        "allow_headers": ALLOW_HEADERS,
        "expose_headers": None if anyone else EXPOSE_HEADERS,
        "supports_credentials": False,
        "max_age": int(current_app.config["CORS_MAX_AGE"]),
        "always_send": False,
        "vary_header": True,
        "allow_private_network": False,
    })
    return set_cors_headers(response, options)


def init_app(flask_app: Flask) -> None:
    flask_app.after_request(add_cors_headers)
