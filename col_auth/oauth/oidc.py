"""OpenID Connect Core: the id_token (§2) and the claims about the user (§5.1, §5.4)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import jwt
from flask import current_app

from ..core import scopes as scope_names
from ..core.clock import now, to_epoch
from ..core.models import Grant, OAuthClient, User
from ..core.signing_keys import active_key, signing_keys

ALGORITHM = "RS256"
# Claims by scope (§5.4), beyond those every ``openid`` grant carries (contract §5).
CLAIMS_BY_SCOPE = {
    scope_names.PROFILE: ("name", "preferred_username", "given_name", "family_name",
                          "updated_at"),
    scope_names.EMAIL: ("email", "email_verified"),
    scope_names.PHONE: ("phone_number", "phone_number_verified"),
    scope_names.ADDRESS: ("address",),
}
BASE_CLAIMS = ("sub", "email", "company", "name", "preferred_username")
CLAIMS_SUPPORTED = tuple(dict.fromkeys(
    ("iss", "aud", "exp", "iat", "auth_time", "nonce", *BASE_CLAIMS)
    + tuple(c for claims in CLAIMS_BY_SCOPE.values() for c in claims)))


def user_claims(user: User, granted: Iterable[str]) -> dict:
    """The claims about ``user`` that ``granted`` scopes release, in the id_token and
    at UserInfo. ``openid`` alone gives the contract's claims (sub, email, company,
    name, preferred_username); ``profile``, ``email``, ``phone`` and ``address`` add
    theirs where the account has a value (§5.1: absent rather than empty)."""
    granted = set(granted)
    claims: dict = {
        "sub": user.id,
        "email": user.email,
        "company": user.site.name,
        "name": user.full_name,
        "preferred_username": user.username,
    }
    if scope_names.PROFILE in granted:
        if user.given_name:
            claims["given_name"] = user.given_name
        if user.family_name:
            claims["family_name"] = user.family_name
        claims["updated_at"] = to_epoch(_updated_at(user))
    if scope_names.EMAIL in granted:
        # Only administrators set addresses (the CLI, the demo); a user cannot change
        # theirs, so an address on the account is one the site vouches for.
        claims["email_verified"] = bool(user.email)
    if scope_names.PHONE in granted and user.phone_number:
        claims["phone_number"] = user.phone_number
        # The user types it in their profile; nobody has checked it.
        claims["phone_number_verified"] = False
    if scope_names.ADDRESS in granted and user.address:
        claims["address"] = {"formatted": user.address}
    return claims


def _updated_at(user: User) -> datetime:
    return user.updated_at or user.created_at


def id_token(grant: Grant, client: OAuthClient, user: User, nonce: str | None,
             granted: Iterable[str]) -> str:
    """Signed RS256 with the active key, its ``kid`` in the header."""
    moment = now()
    claims = {
        "iss": current_app.config["ISSUER"],
        "aud": client.client_id,
        "iat": to_epoch(moment),
        "exp": to_epoch(moment + timedelta(seconds=int(current_app.config["ID_TOKEN_TTL"]))),
        "auth_time": to_epoch(grant.auth_time or grant.created_at),
        **user_claims(user, granted),
    }
    if nonce:
        claims["nonce"] = nonce
    key = active_key()
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def read_id_token_hint(token: str) -> dict | None:
    """The claims of ``token`` if it is an id_token we signed, else None.

    Used for ``id_token_hint`` (OIDC Core §3.1.2.1; RP-Initiated Logout §2): the
    signature and the issuer are checked, the expiry and the audience are not — a
    hint names a past sign-in, and one client may hold a token issued to another.
    """
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        return None
    key = next((k for k in signing_keys() if k.kid == kid), None)
    if key is None:
        return None
    try:
        return jwt.decode(token, key.private_key.public_key(), algorithms=[ALGORITHM],
                          issuer=current_app.config["ISSUER"],
                          options={"verify_exp": False, "verify_aud": False,
                                   "verify_iat": False, "require": ["iss", "sub"]})
    except jwt.PyJWTError:
        return None
