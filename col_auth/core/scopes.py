"""Scopes of the OAuth2 face: the template's access levels and OpenID's identity scopes.

A client template grants access levels (contract §5): ``openid`` (who the user
is) and ``api`` (the Web API as the user). Wherever ``openid`` is granted, the
identity scopes of OIDC Core §5.4 and §11 come with it: ``profile``, ``email``,
``address``, ``phone`` ask for more claims, ``offline_access`` for a refresh
token (which every grant gets here anyway). Any other value is ignored, not
refused (OIDC Core §3.1.2.1: "Scope values used that are not understood by an
implementation SHOULD be ignored"); the granted ``scope`` says what was granted
(RFC 6749 §3.3).
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import ValidationError

OPENID = "openid"
API = "api"
ACCESS_LEVELS = (OPENID, API)
PROFILE, EMAIL, ADDRESS, PHONE, OFFLINE_ACCESS = (
    "profile", "email", "address", "phone", "offline_access")
IDENTITY_SCOPES = (PROFILE, EMAIL, ADDRESS, PHONE, OFFLINE_ACCESS)
# Every scope the server knows, in the one canonical order of a granted ``scope``.
SUPPORTED = (OPENID, PROFILE, EMAIL, ADDRESS, PHONE, OFFLINE_ACCESS, API)


def scope_string(scopes: Iterable[str]) -> str:
    """Known scopes in the canonical order, space-separated; unknown ones dropped."""
    chosen = set(scopes)
    return " ".join(s for s in SUPPORTED if s in chosen)


def parse_access_levels(levels: str | Iterable[str] | None) -> frozenset[str]:
    """A template's access levels from a space-separated string or a list; anything
    but ``openid`` and ``api`` is an ``invalid_scope`` error (an administrator typed it)."""
    items = levels.split() if isinstance(levels, str) else list(levels or [])
    unknown = sorted(set(items) - set(ACCESS_LEVELS))
    if unknown:
        raise ValidationError("invalid_scope", f"unknown access level(s): {', '.join(unknown)}")
    return frozenset(items)


def known(scope: str | None) -> frozenset[str]:
    """The scopes of a request's ``scope`` the server knows; the rest is ignored."""
    return frozenset((scope or "").split()) & frozenset(SUPPORTED)


def grantable(scope: str | None, access_levels: frozenset[str]) -> frozenset[str]:
    """What an authorization request for ``scope`` may be granted by a template with
    ``access_levels``.

    None given (or nothing known given) means all of the template's access levels.
    An access level outside the template is an ``invalid_scope`` error; identity
    scopes are kept only when ``openid`` is granted.
    """
    requested = known(scope)
    levels = requested & frozenset(ACCESS_LEVELS)
    if not levels:
        levels = access_levels
        requested = requested | access_levels
    outside = levels - access_levels
    if outside:
        raise ValidationError("invalid_scope", "The application may not ask for "
                              + ", ".join(sorted(outside)) + ".")
    if OPENID not in levels:
        return frozenset(levels)
    return frozenset(levels) | (requested & frozenset(IDENTITY_SCOPES))


def narrowed(scope: str, granted: frozenset[str]) -> frozenset[str]:
    """The scope a refresh asks for (RFC 6749 §6: no scope not originally granted).
    Unknown values are ignored, as at the authorization endpoint."""
    requested = known(scope)
    if not requested or not requested <= granted:
        raise ValidationError("invalid_scope", "A refresh may only narrow the granted scope.")
    if OPENID not in requested:
        requested = requested - frozenset(IDENTITY_SCOPES)
        if not requested:
            raise ValidationError("invalid_scope",
                                  "A refresh may only narrow the granted scope.")
    return requested
