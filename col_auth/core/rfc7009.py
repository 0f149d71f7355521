"""RFC 7009, token revocation: what a client's revocation request changes."""

from __future__ import annotations

from . import audit
from .clock import now
from .grants import revoke_grant
from .models import TOKEN_REFRESH, OAuthClient
from .oauth_tokens import find_client_token


def revoke_token(client: OAuthClient, value: str, ip: str | None = None) -> None:
    """§2.1: a refresh token takes its whole grant with it; an access token goes
    alone. A token that is unknown or another client's changes nothing (§2.2: the
    answer is the same either way)."""
    found = find_client_token(client, value)
    if found is None:
        return
    token, grant = found
    if token.kind == TOKEN_REFRESH:
        revoke_grant(grant, reason="client_revocation", ip=ip)
    elif token.revoked_at is None:
        token.revoked_at = now()
        audit.record(audit.TOKEN_REVOKED, ip=ip, site_id=grant.site_id,
                     client_id=client.client_id, grant=grant.id, kind=token.kind)
