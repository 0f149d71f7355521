"""RFC 7662, token introspection: what a client may learn about one of its tokens."""

from __future__ import annotations

from typing import Any

from flask import current_app

from .clock import now, to_epoch
from .models import TOKEN_ACCESS, TOKEN_REFRESH, OAuthClient
from .oauth_tokens import find_client_token


def introspect(client: OAuthClient, value: str) -> dict[str, Any]:
    """§2.2: ``{"active": false}`` for anything not live or not this client's; the
    members of a live token otherwise (none that would be null)."""
    found = find_client_token(client, value)
    if found is None:
        return {"active": False}
    token, grant = found
    moment = now()
    if (token.revoked_at is not None or grant.revoked_at is not None
            or (token.expires_at is not None and token.expires_at <= moment)
            or (token.kind == TOKEN_REFRESH and token.rotated_at is not None)):
        return {"active": False}
    user = grant.user
    if not user.active:
        return {"active": False}
    claims = {
        "active": True,
        "scope": token.scope or "",
        "client_id": client.client_id,
        "username": user.username,
        "token_type": "Bearer" if token.kind == TOKEN_ACCESS else "refresh_token",
        "exp": to_epoch(token.expires_at) if token.expires_at else None,
        "iat": to_epoch(token.created_at),
        "sub": user.id,
        "aud": client.client_id,
        "iss": current_app.config["ISSUER"],
    }
    return {k: v for k, v in claims.items() if v is not None}
