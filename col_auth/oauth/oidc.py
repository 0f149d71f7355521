"""OpenID Connect Core: the id_token (§2) and the UserInfo claims (§5.3)."""

from __future__ import annotations

from datetime import timedelta

import jwt
from flask import current_app

from ..core.clock import now, to_epoch
from ..core.models import Grant, OAuthClient, User
from ..core.principals import Account
from ..core.signing_keys import active_key

ALGORITHM = "RS256"


def user_claims(user: User | Account) -> dict:
    """The claims about ``user`` in the id_token and at UserInfo."""
    return {
        "sub": user.id,
        "email": user.email,
        "company": user.site.name,
        "name": user.full_name,
        "preferred_username": user.username,
    }


def id_token(grant: Grant, client: OAuthClient, user: User, nonce: str | None) -> str:
    """Signed RS256 with the active key, its ``kid`` in the header."""
    moment = now()
    claims = {
        "iss": current_app.config["ISSUER"],
        "aud": client.client_id,
        "iat": to_epoch(moment),
        "exp": to_epoch(moment + timedelta(seconds=int(current_app.config["ID_TOKEN_TTL"]))),
        "auth_time": to_epoch(grant.auth_time or grant.created_at),
        **user_claims(user),
    }
    if nonce:
        claims["nonce"] = nonce
    key = active_key()
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
