"""The client side of Connections Online style app authorization (contract §3, §4, §7).

A third-party app sends the user to :meth:`LegacyClient.authorization_url`; the
server sends the user back to the app's Return URL with either ``cancel=1`` or
``jwt=<packet>``; :meth:`LegacyClient.read_return` turns that into a
:class:`TokenGrant` or :class:`Cancelled` (or raises); :meth:`LegacyClient.session`
gives a ``requests`` session that calls the Web API with the token.

This module is client code: it needs only ``requests`` and PyJWT, never the server.
"""

from __future__ import annotations

import base64
import heapq
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import requests
from requests.auth import AuthBase

__all__ = [
    "SITE_TOKEN_TYPE",
    "USER_TOKEN_TYPE",
    "AuthorizationError",
    "Cancelled",
    "LegacyClient",
    "MemoryReplayStore",
    "PacketError",
    "ReplayStore",
    "TokenGrant",
]

# ``type`` values of ``/auth/``.
USER_TOKEN_TYPE = "44"
SITE_TOKEN_TYPE = "1"

ALGORITHM = "HS256"
USER_TOKEN_PREFIX = "{UserToken}"
SITE_TOKEN_PREFIX = "{SiteToken}"

# The claim sets of the contract, exactly.
_USER_CLAIMS = frozenset({"iat", "jti", "token", "desc", "username", "userid"})
_SITE_CLAIMS = _USER_CLAIMS | {"siteid"}
_ERROR_CLAIMS = frozenset({"iat", "jti", "error"})
_HEADER_FIELDS = frozenset({"alg", "typ"})

_GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

_AUTHORIZATION_ERRORS = {
    "invalid_type": "the app asked for a token type the server does not know",
    "site_admin_required": "a site token can only be granted by a site administrator",
}

TokenKind = Literal["user_token", "site_token"]


class PacketError(Exception):
    """The return from ``/auth/`` could not be trusted; ``code`` is a stable string.

    Codes: ``malformed``, ``bad_signature``, ``wrong_algorithm``,
    ``unexpected_claims``, ``stale``, ``from_the_future``, ``replayed``,
    ``missing_packet``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class AuthorizationError(Exception):
    """The server sent a (verified) error packet instead of a token.

    ``error`` is the packet's ``error`` claim (``invalid_type``,
    ``site_admin_required``, …); ``claims`` are all its claims.
    """

    def __init__(self, error: str, claims: dict[str, Any]) -> None:
        reason = _AUTHORIZATION_ERRORS.get(error, "the server refused the authorization")
        super().__init__(f"{error}: {reason}")
        self.error = error
        self.claims = claims


@dataclass(frozen=True)
class Cancelled:
    """The user pressed "Cancel" on the consent page; nothing was granted."""


@dataclass(frozen=True)
class TokenGrant:
    """A verified user or site token packet.

    ``token`` (with its ``{UserToken}``/``{SiteToken}`` prefix) is a secret: keep it
    server-side, and pass it to :meth:`LegacyClient.session`. It is left out of
    ``repr`` so that it does not end up in logs.
    """

    token: str = field(repr=False)
    username: str
    userid: str
    desc: str
    kind: TokenKind
    siteid: str | None
    iat: int
    jti: str
    claims: dict[str, Any] = field(repr=False, hash=False)


class ReplayStore(Protocol):
    """Where seen packet ids (``jti``) are kept; share one between all workers."""

    def remember(self, jti: str, expires_at: float) -> bool:
        """Keep ``jti`` until ``expires_at`` (epoch seconds); True if it was not known."""
        ...


class MemoryReplayStore:
    """A :class:`ReplayStore` in this process's memory: thread-safe, entries dropped once
    ``expires_at`` has passed.

    Good for one process. Several workers or hosts need a shared store (a database
    table or Redis ``SET jti 1 NX EXAT expires_at``), else a packet could be read
    once per worker.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self._queue: list[tuple[float, str]] = []

    def remember(self, jti: str, expires_at: float) -> bool:
        """True, and ``jti`` kept until ``expires_at``, if it was not already known."""
        with self._lock:
            self._forget_expired(self._clock())
            if jti in self._expiry:
                return False
            self._expiry[jti] = expires_at
            heapq.heappush(self._queue, (expires_at, jti))
            return True

    def __len__(self) -> int:
        with self._lock:
            self._forget_expired(self._clock())
            return len(self._expiry)

    def _forget_expired(self, now: float) -> None:
        while self._queue and self._queue[0][0] <= now:
            expires_at, jti = heapq.heappop(self._queue)
            if self._expiry.get(jti) == expires_at:
                del self._expiry[jti]


class _BasicAuth(AuthBase):
    """``Authorization: Basic base64(username:token)``, UTF-8, sent only to ``origin``.

    (``requests.auth.HTTPBasicAuth`` encodes Latin-1 and would send the token to any
    host the session is pointed at.)
    """

    def __init__(self, username: str, token: str, origin: tuple[str, str]) -> None:
        raw = f"{username}:{token}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode("ascii")
        self._origin = origin

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if _origin(request.url or "") == self._origin:
            request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return f"<_BasicAuth for {self._origin[0]}://{self._origin[1]}>"


def _origin(url: str) -> tuple[str, str]:
    """``(scheme, host:port)`` with the default port filled in, lower-case."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        return ("", "")
    return (scheme, f"{(parts.hostname or '').lower()}:{port}")


class LegacyClient:
    """A third-party app's side of ``/auth/``: build the URL, read the return, call the API.

    ``base_url`` is the service (``https://col.example``); ``app_token`` and
    ``app_secret`` are what ``/developer`` showed when the app was registered.
    A packet is accepted for ``max_age`` seconds after its ``iat``, and up to
    ``skew`` seconds before it (clocks differ). Each packet is accepted once: its
    ``jti`` goes into ``replay_store`` (by default one in this process's memory).
    """

    def __init__(
        self,
        base_url: str,
        app_token: str,
        app_secret: str,
        *,
        max_age: int = 600,
        skew: int = 60,
        replay_store: ReplayStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        base_url = (base_url or "").strip().rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an absolute http(s) URL, not {base_url!r}")
        if not app_token or not app_secret:
            raise ValueError("app_token and app_secret are both required (see /developer)")
        if max_age <= 0 or skew < 0:
            raise ValueError("max_age must be positive and skew not negative")
        self.base_url = base_url
        self.app_token = app_token
        self._key = app_secret.encode("utf-8")
        self.max_age = max_age
        self.skew = skew
        self.clock = clock
        self.replay_store: ReplayStore = (
            MemoryReplayStore(clock) if replay_store is None else replay_store
        )

    def __repr__(self) -> str:
        return f"<LegacyClient {self.base_url} app_token={self.app_token}>"

    def authorization_url(self, *, site: bool = False) -> str:
        """Where to send the user: ``{base}/auth/?apptoken=…&type=44`` (or ``type=1``, a
        site token, when ``site``)."""
        token_type = SITE_TOKEN_TYPE if site else USER_TOKEN_TYPE
        return f"{self.base_url}/auth/?" + urlencode({"apptoken": self.app_token,
                                                       "type": token_type})

    def read_return(self, url_or_query: str | Mapping[str, str]) -> TokenGrant | Cancelled:
        """The outcome of ``/auth/`` from the request that reached the Return URL.

        Accepts the full return URL (or its path and query), its query string, or a
        mapping of its query parameters (e.g. Flask's ``request.args``).
        ``cancel=1`` gives :class:`Cancelled`; a verified token packet gives a
        :class:`TokenGrant`; a verified error packet raises :class:`AuthorizationError`;
        anything that cannot be trusted raises :class:`PacketError`.
        """
        params = _return_params(url_or_query)
        if params.get("cancel") == ["1"]:
            return Cancelled()
        packets = params.get("jwt") or []
        if not packets or not packets[0]:
            raise PacketError("missing_packet",
                              "the return carries neither jwt nor cancel=1")
        if len(packets) > 1:
            raise PacketError("malformed", "the return carries more than one jwt")
        claims = self._verify(packets[0])
        if "error" in claims:
            raise AuthorizationError(claims["error"], claims)
        kind: TokenKind = "site_token" if "siteid" in claims else "user_token"
        return TokenGrant(token=claims["token"], username=claims["username"],
                          userid=claims["userid"], desc=claims["desc"], kind=kind,
                          siteid=claims.get("siteid"), iat=claims["iat"], jti=claims["jti"],
                          claims=claims)

    def session(self, username: str, token: str) -> requests.Session:
        """A ``requests.Session`` sending ``Authorization: Basic base64(username:token)``.

        ``token`` keeps its ``{UserToken}``/``{SiteToken}`` prefix; with a site token,
        ``username`` may be any user of the site. The header goes only to URLs on
        ``base_url``'s scheme, host and port, so the token never leaks elsewhere;
        callers pass full URLs.
        """
        if not username or not token:
            raise ValueError("username and token are both required")
        session = requests.Session()
        session.auth = _BasicAuth(username, token, _origin(self.base_url))
        return session

    # -- verification -------------------------------------------------------------

    def _verify(self, packet: str) -> dict[str, Any]:
        """The packet's claims, checked in the order: form, algorithm, signature, claim
        set, time, replay."""
        try:
            header = jwt.get_unverified_header(packet)
        except jwt.InvalidTokenError as exc:
            raise PacketError("malformed", "the packet is not a compact JWS") from exc
        if "alg" not in header:
            raise PacketError("malformed", "the packet header names no algorithm")
        if header["alg"] != ALGORITHM:
            raise PacketError("wrong_algorithm",
                              f"the packet must be signed with {ALGORITHM}, "
                              f"not {header.get('alg')!r}")
        typ = header.get("typ", "JWT")
        if set(header) - _HEADER_FIELDS or not isinstance(typ, str) or typ.upper() != "JWT":
            raise PacketError("malformed",
                              'the packet header must be {"alg":"HS256","typ":"JWT"}')
        try:
            decoded = jwt.PyJWS().decode_complete(packet, self._key, algorithms=[ALGORITHM])
        except jwt.InvalidSignatureError as exc:
            raise PacketError("bad_signature",
                              "the packet was not signed with this app's AppSecret") from exc
        except jwt.InvalidTokenError as exc:
            raise PacketError("malformed", "the packet is not a compact JWS") from exc
        claims = _json_object(decoded["payload"])
        _check_claims(claims)
        self._check_time(claims["iat"])
        expires_at = claims["iat"] + self.max_age + self.skew
        if not self.replay_store.remember(claims["jti"], expires_at):
            raise PacketError("replayed", "this packet was already read once")
        return claims

    def _check_time(self, iat: int) -> None:
        now = self.clock()
        # Compared, never subtracted as floats: an ``iat`` beyond float range (JSON
        # integers have no limit) would raise OverflowError instead of PacketError.
        if iat > now + self.skew:
            raise PacketError("from_the_future",
                              f"the packet is dated {iat - int(now)} s ahead of this clock")
        if iat < now - self.max_age:
            raise PacketError("stale", f"the packet is older than {self.max_age} s;"
                              " send the user through /auth/ again")


def _return_params(source: str | Mapping[str, str]) -> dict[str, list[str]]:
    """Query parameters (all values of each) from a URL, a query string or a mapping."""
    if isinstance(source, str):
        text = source.strip()
        if _URL_SCHEME.match(text) or text.startswith("/"):
            query = urlsplit(text).query
        else:
            query = text.removeprefix("?").split("#", 1)[0]
        return parse_qs(query, keep_blank_values=True)
    params: dict[str, list[str]] = {}
    for name, value in source.items():
        values = list(value) if isinstance(value, list | tuple) else [value]
        if not all(isinstance(item, str) for item in values):
            raise PacketError("malformed", f"the parameter {name!r} is not text")
        params[name] = values
    return params


def _json_object(payload: bytes) -> dict[str, Any]:
    """The payload as a JSON object; duplicate names and NaN/Infinity are refused."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            raise ValueError("duplicate claim")
        return dict(pairs)

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        claims = json.loads(payload.decode("utf-8"), object_pairs_hook=no_duplicates,
                            parse_constant=no_constants)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise PacketError("malformed", "the packet's claims are not a JSON object") from exc
    if not isinstance(claims, dict):
        raise PacketError("malformed", "the packet's claims are not a JSON object")
    return claims


def _unexpected(message: str) -> PacketError:
    return PacketError("unexpected_claims", message)


def _check_claims(claims: dict[str, Any]) -> None:
    """The exact claim sets of the contract, with their types and token prefixes."""
    names = frozenset(claims)
    if names not in (_USER_CLAIMS, _SITE_CLAIMS, _ERROR_CLAIMS):
        raise _unexpected(f"the packet's claims {sorted(names)} are not those of a user"
                          " token, a site token or an error")
    iat = claims["iat"]
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise _unexpected("iat must be an integer number of seconds")
    if not isinstance(claims["jti"], str) or not _GUID.fullmatch(claims["jti"]):
        raise _unexpected("jti must be a GUID")
    if names == _ERROR_CLAIMS:
        if not isinstance(claims["error"], str) or not claims["error"]:
            raise _unexpected("error must be a non-empty string")
        return
    for name in names - {"iat", "jti"}:
        if not isinstance(claims[name], str):
            raise _unexpected(f"{name} must be a string")
    for name in names - {"iat", "jti", "desc"}:
        if not claims[name]:
            raise _unexpected(f"{name} must not be empty")
    prefix = SITE_TOKEN_PREFIX if names == _SITE_CLAIMS else USER_TOKEN_PREFIX
    token = claims["token"]
    if not token.startswith(prefix) or not _GUID.fullmatch(token[len(prefix):]):
        raise _unexpected(f"this claim set needs a token of the form {prefix}<GUID>")
