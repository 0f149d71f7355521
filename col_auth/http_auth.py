"""The one reader of the ``Authorization`` header, and the one challenge builder.

Three kinds of credentials arrive in it:
- ``Basic base64(username:token)`` for the Web API's legacy tokens, read strictly
  (RFC 7617 §2);
- ``Basic base64(client_id:client_secret)`` for client authentication at the
  token endpoints, each part form-encoded before base64 (RFC 6749 §2.3.1);
- ``Bearer <access_token>`` (RFC 6750 §2.1).

``require_token`` protects a resource (``/api/v1/*``, ``/userinfo``) with the
schemes and scope it names; a refusal is an ``InvalidToken`` or
``InsufficientScope`` error, which the blueprint's error handler answers with
the challenges ``challenges`` builds (RFC 6750 §3, RFC 7235 §4.1).

A resource may also opt in to a Bearer token in a POST form body (RFC 6750 §2.2):
UserInfo does, as OpenID clients send it there; the Web API reads the header only.
Such a resource refuses ``?access_token=`` in the URL (§2.3 is optional, and a URL
is written to logs) with ``invalid_request``, even beside a good header.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import unquote_plus

from flask import g, request

from .core import metrics
from .core.errors import (
    CoreError,
    InsufficientScope,
    InvalidBearerRequest,
    InvalidClient,
    InvalidRequest,
    InvalidToken,
    TokenError,
)
from .core.legacy_tokens import validate_legacy_token
from .core.oauth_tokens import MAX_TOKEN_LENGTH, validate_access_token
from .core.principals import Principal
from .core.text import is_storable
from .database import read_without_transaction

REALM = "col_auth"
BASIC = "Basic"
BEARER = "Bearer"
_HOW_TO_SEND = {BASIC: "Basic base64(username:token)", BEARER: "Bearer <access_token>"}
# RFC 6750 §2.2 and §2.3: the parameter name, and the only body media type.
ACCESS_TOKEN_PARAMETER = "access_token"
_FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
# Longer credentials are refused before decoding: no token is anywhere near this.
MAX_CREDENTIALS_LENGTH = 4096
# b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")


@dataclass(frozen=True, slots=True)
class Authorization:
    """The ``Authorization`` header split once: its scheme (lower case) and the rest."""

    scheme: str
    credentials: str


def split_authorization(header: str | None) -> Authorization | None:
    """An ``Authorization`` value split into scheme and credentials, or None if empty."""
    if not header or not header.strip():
        return None
    scheme, _, credentials = header.strip().partition(" ")
    return Authorization(scheme.lower(), credentials.strip())


def read_authorization() -> Authorization | None:
    """This request's ``Authorization`` header, split; None if there is none."""
    return split_authorization(request.headers.get("Authorization"))


def _basic_text(credentials: str) -> str | None:
    """The text of a Basic credential, or None. Strict: the base64 must be canonical
    (no stray characters, exact padding, zero unused bits) and the text UTF-8."""
    if not credentials or len(credentials) > MAX_CREDENTIALS_LENGTH:
        return None
    try:
        raw = base64.b64decode(credentials, validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(raw).decode("ascii") != credentials:
        return None  # non-zero unused bits: another spelling of the same bytes
    return text


def _decode_basic(credentials: str) -> tuple[str, str] | None:
    """The two parts around the first colon of a Basic credential, or None; also
    None if the text holds a control character (C0, DEL, C1)."""
    text = _basic_text(credentials)
    if text is None or not is_storable(text):
        return None
    first, colon, second = text.partition(":")
    return (first, second) if colon else None


def _username_and_token(credentials: str) -> tuple[str, str] | None:
    pair = _decode_basic(credentials)
    if pair is None or not pair[0] or not pair[1]:
        return None  # both parts are required (RFC 7617 §2)
    return pair


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """``(username, token)`` from an ``Authorization: Basic`` value, or None if
    malformed."""
    authorization = split_authorization(header)
    if authorization is None or authorization.scheme != "basic":
        return None
    return _username_and_token(authorization.credentials)


def bearer_token(authorization: Authorization | None) -> str | None:
    """The token of ``Bearer <token>``, or None if absent or malformed (RFC 6750 §2.1)."""
    if authorization is None or authorization.scheme != "bearer":
        return None
    token = authorization.credentials
    if not token or len(token) > MAX_TOKEN_LENGTH or not _B64TOKEN.match(token):
        return None
    return token


def client_basic_credentials() -> tuple[str, str] | None:
    """``client_secret_basic``: ``(client_id, client_secret)`` from this request's
    Basic header, each part form-decoded (RFC 6749 §2.3.1); None when the request
    sends no Basic header; ``InvalidClient`` when it sends a malformed one.

    A control character in either part (NUL: "a%00b" once form-decoded) is an
    ``InvalidRequest``, as the same value in the form is (``web.boundary``): the
    header itself is plain base64 and passes the boundary's check.
    """
    authorization = read_authorization()
    if authorization is None or authorization.scheme != "basic":
        return None
    text = _basic_text(authorization.credentials)
    if text is None or ":" not in text:
        raise InvalidClient("Malformed Basic client credentials.")
    client_id, _, secret = text.partition(":")
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    if not (is_storable(client_id) and is_storable(secret)):
        raise InvalidRequest("The Basic client credentials contain a control character.")
    return client_id, secret


def challenges(error: CoreError) -> list[str]:
    """The ``WWW-Authenticate`` values that go with ``error`` (none for most).

    RFC 6750 §3.1: a refused token is answered with a challenge per accepted scheme,
    naming the error only when credentials were sent; ``insufficient_scope`` names
    the scope needed. RFC 6749 §5.2: ``invalid_client`` challenges for Basic.
    """
    realm = f'realm="{REALM}"'
    if isinstance(error, InvalidBearerRequest):
        return [f'{BEARER} {realm}, error="{error.code}"']
    if isinstance(error, InsufficientScope):
        return [f'{BEARER} {realm}, error="{error.code}", scope="{error.scope}"']
    if isinstance(error, InvalidToken):
        values = []
        for scheme in error.schemes:
            value = f"{scheme} {realm}"
            if scheme == BEARER and error.credentials_sent:
                value += f', error="{error.code}"'
            values.append(value)
        return values
    if isinstance(error, InvalidClient):
        return [f"{BASIC} {realm}"]
    return []


def _read_only() -> None:
    """Before a validation reads the database (not when the worker's cache answers)."""
    read_without_transaction(request.method)


def authenticate(authorization: Authorization | None,
                 schemes: tuple[str, ...] = (BASIC, BEARER), scope: str | None = None
                 ) -> Principal:
    """The principal of ``authorization`` (see ``read_authorization``), or
    ``InvalidToken`` / ``InsufficientScope``. ``schemes`` are those the resource
    accepts; ``scope`` is what an OAuth2 access token must carry."""
    if authorization is None:
        how = " or ".join(_HOW_TO_SEND[s] for s in schemes)
        raise InvalidToken(f"Send Authorization: {how}.", schemes, credentials_sent=False)
    if authorization.scheme == "basic" and BASIC in schemes:
        credentials = _username_and_token(authorization.credentials)
        if credentials is None:
            raise InvalidToken("The Basic credentials are malformed.", schemes)
        principal = validate_legacy_token(*credentials, before_query=_read_only)
        if principal is None:
            raise InvalidToken("The token is unknown, revoked, or not valid for this username.",
                               schemes)
        return principal
    if authorization.scheme == "bearer" and BEARER in schemes:
        token = bearer_token(authorization)
        principal = None
        if token:
            principal = validate_access_token(token, before_query=_read_only)
        if principal is None:
            raise InvalidToken("The access token is malformed, unknown, expired or revoked.",
                               schemes)
        if scope and scope not in principal.scopes:
            raise InsufficientScope(scope)
        return principal
    raise InvalidToken("Unsupported authorization scheme.", schemes)


def with_form_body(authorization: Authorization | None) -> Authorization | None:
    """The credentials of a resource that also takes a Bearer token in the body.

    RFC 6750 §2.2: only in a POST whose body is ``application/x-www-form-urlencoded``
    (any other body is not read for it), once, and not beside an ``Authorization``
    header (§3.1: more than one method is ``invalid_request``). §2.3, the query, is
    refused whatever else the request carries: by the time it arrives the token is
    in every log that records URLs, and answering it would teach clients to do so.
    """
    if ACCESS_TOKEN_PARAMETER in request.args:
        raise InvalidBearerRequest(
            "An access token in the URL (?access_token=) is refused: URLs are written to "
            "logs. Send it as Authorization: Bearer <access_token>, or as access_token "
            "in a POST form body.")
    if request.method != "POST" or request.mimetype != _FORM_MEDIA_TYPE:
        return authorization
    values = request.form.getlist(ACCESS_TOKEN_PARAMETER)
    if not values:
        return authorization
    if len(values) > 1:
        raise InvalidBearerRequest("access_token is repeated in the form body.")
    if authorization is not None:
        raise InvalidBearerRequest("Send the access token one way: in the Authorization "
                                   "header or in the form body, not both.")
    return Authorization("bearer", values[0])


def require_token(scope: str | None = None, schemes: tuple[str, ...] = (BASIC, BEARER), *,
                  form_body: bool = False
                  ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run the view with ``g.principal`` set, or raise the refusal for the blueprint's
    error handler. Counts every validation and its time (``/metrics``).

    ``form_body=True`` also takes a Bearer token from a POST form body and refuses
    one in the query (``with_form_body``); otherwise only the header is read."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authorization = read_authorization()
            scheme = authorization.scheme if authorization else "none"
            label = scheme if scheme in ("basic", "bearer") else "other"
            started = time.perf_counter()
            try:
                if form_body:
                    # Not on the Web API's path: it reads no body and no query here.
                    found = with_form_body(authorization)
                    if found is not authorization:  # the token came in the body
                        authorization, label = found, "bearer"
                g.principal = authenticate(authorization, schemes, scope)
            except TokenError as exc:
                metrics.labelled(metrics.TOKEN_VALIDATIONS, label, exc.code).inc()
                raise
            finally:
                metrics.labelled(metrics.TOKEN_VALIDATION_SECONDS, label).observe(
                    time.perf_counter() - started)
            metrics.labelled(metrics.TOKEN_VALIDATIONS, label, "ok").inc()
            return view(*args, **kwargs)

        return wrapper

    return decorator
