"""The packet an app gets back from /auth: an HS256 JWS signed with its AppSecret.

The claim sets are fixed by the contract (§3), exactly:
site token ``iat jti token desc siteid username userid``; user token
``iat jti token desc username userid``; error ``iat jti error``.
"""

from __future__ import annotations

from typing import Any

import jwt

from ..core.clock import now, to_epoch
from ..core.ids import new_guid
from ..core.models import GRANT_SITE_TOKEN, Grant, User

ALGORITHM = "HS256"

# Error codes an error packet may carry.
INVALID_TYPE = "invalid_type"
SITE_ADMIN_REQUIRED = "site_admin_required"


def _base() -> dict[str, Any]:
    return {"iat": to_epoch(now()), "jti": new_guid()}


def grant_claims(grant: Grant, token: str, user: User) -> dict[str, Any]:
    claims = _base()
    claims["token"] = token
    if grant.kind == GRANT_SITE_TOKEN:
        claims["desc"] = user.site.name
        claims["siteid"] = user.site_id
    else:
        claims["desc"] = user.full_name
    claims["username"] = user.username
    claims["userid"] = user.id
    return claims


def error_claims(error: str) -> dict[str, Any]:
    claims = _base()
    claims["error"] = error
    return claims


def sign(claims: dict[str, Any], app_secret: str) -> str:
    """A compact JWS with header ``{"alg":"HS256","typ":"JWT"}``; the key is the whole
    AppSecret string, UTF-8."""
    return jwt.encode(claims, app_secret.encode("utf-8"), algorithm=ALGORITHM,
                      headers={"typ": "JWT"})
