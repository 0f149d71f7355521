"""Authorization codes, access and refresh tokens of the OAuth2 face.

Every rule that must hold across many workers is enforced by the database:
a code is redeemed and a refresh token rotated by one conditional UPDATE, so of
any number of concurrent attempts exactly one wins (RFC 6749 §4.1.2, §10.5;
RFC 9700 §4.14.2). Tokens are opaque random strings stored as SHA-256 hashes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, select, update

from ..extensions import db
from . import audit, metrics, rfc7636
from .clock import now
from .crypto import token_hash
from .errors import OAuthError, ValidationError
from .grants import AUTH_OAUTH, Principal, account_columns, account_from, revoke_grant, touch
from .models import (
    GRANT_OAUTH,
    TOKEN_ACCESS,
    TOKEN_REFRESH,
    AuthorizationCode,
    Grant,
    OAuthClient,
    Site,
    Token,
    User,
)
from .oauth_clients import parse_scopes, scope_string

ACCESS_PREFIX = "col_at_"
REFRESH_PREFIX = "col_rt_"


@dataclass(frozen=True)
class IssuedTokens:
    """What the token endpoint answers with, before the id_token is added."""

    access_token: str
    refresh_token: str
    expires_in: int
    scope: str
    grant: Grant
    nonce: str | None = None


def _ttl(name: str) -> timedelta:
    return timedelta(seconds=int(current_app.config[name]))


def _capped(moment: datetime, ttl: timedelta, client: OAuthClient) -> datetime:
    """Never past the client's Expires (contract §5)."""
    expires = moment + ttl
    if client.expires_at is not None and client.expires_at < expires:
        return client.expires_at
    return expires


def create_code(
    client: OAuthClient,
    user: User,
    *,
    redirect_uri: str,
    scope: str,
    nonce: str | None,
    code_challenge: str | None,
    auth_time: datetime,
    ip: str | None = None,
) -> str:
    """A single-use code for the consent the user just gave; returns it in clear."""
    code = secrets.token_urlsafe(32)
    moment = now()
    db.session.add(AuthorizationCode(
        code_hash=token_hash(code),
        client_pk=client.id,
        user_id=user.id,
        redirect_uri=redirect_uri,
        scope=scope,
        nonce=nonce,
        code_challenge=code_challenge,
        auth_time=auth_time,
        created_at=moment,
        expires_at=_capped(moment, _ttl("CODE_TTL"), client),
    ))
    audit.record(audit.OAUTH_CONSENTED, user_id=user.id, site_id=user.site_id, ip=ip,
                 client_id=client.client_id, scope=scope)
    return code


def _issue_pair(grant: Grant, client: OAuthClient, *, access_scope: str, refresh_scope: str,
                moment: datetime) -> tuple[str, str, int]:
    access = ACCESS_PREFIX + secrets.token_urlsafe(32)
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    access_expires = _capped(moment, _ttl("ACCESS_TTL"), client)
    db.session.add_all([
        Token(grant_id=grant.id, kind=TOKEN_ACCESS, token_hash=token_hash(access),
              scope=access_scope, created_at=moment, expires_at=access_expires),
        Token(grant_id=grant.id, kind=TOKEN_REFRESH, token_hash=token_hash(refresh),
              scope=refresh_scope, created_at=moment,
              expires_at=_capped(moment, _ttl("REFRESH_TTL"), client)),
    ])
    return access, refresh, max(0, int((access_expires - moment).total_seconds()))


def redeem_code(client: OAuthClient, code: str, redirect_uri: str | None,
                code_verifier: str | None, ip: str | None = None) -> IssuedTokens:
    """Exchange a code for tokens (RFC 6749 §4.1.3, RFC 7636 §4.6)."""
    moment = now()
    row = db.session.scalar(select(AuthorizationCode).where(
        AuthorizationCode.code_hash == token_hash(code or "")))
    if row is None or row.client_pk != client.id:
        raise OAuthError("invalid_grant", "The code is unknown or was issued to another client.")
    if row.used_at is not None:
        _code_replayed(row.id, client, ip)
    if row.expires_at <= moment:
        raise OAuthError("invalid_grant", "The code has expired.")
    if redirect_uri != row.redirect_uri:
        raise OAuthError("invalid_grant",
                         "redirect_uri must be the one of the authorization request.")
    if row.code_challenge:
        if not rfc7636.verify(code_verifier, row.code_challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge.")
    elif code_verifier is not None:
        # A verifier for a code issued without a challenge is a downgrade attempt
        # (RFC 9700 §4.8.2).
        raise OAuthError("invalid_grant", "This code was issued without a code_challenge.")
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        raise OAuthError("invalid_grant", "The user who granted this code is no longer active.")

    grant = Grant(kind=GRANT_OAUTH, user_id=user.id, site_id=user.site_id, client_pk=client.id,
                  scope=row.scope, auth_time=row.auth_time, created_at=moment)
    db.session.add(grant)
    db.session.flush()
    won = db.session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
        .values(used_at=moment, grant_id=grant.id)
    ).rowcount
    if won != 1:
        db.session.rollback()
        _code_replayed(row.id, client, ip)
    access, refresh, expires_in = _issue_pair(grant, client, access_scope=row.scope,
                                              refresh_scope=row.scope, moment=moment)
    audit.record(audit.OAUTH_GRANTED, user_id=user.id, site_id=user.site_id, ip=ip,
                 client_id=client.client_id, grant=grant.id, scope=row.scope)
    metrics.GRANTS.labels("oauth", GRANT_OAUTH).inc()
    db.session.commit()
    return IssuedTokens(access, refresh, expires_in, row.scope, grant, row.nonce)


def _code_replayed(code_id: int, client: OAuthClient, ip: str | None):
    """A second use: refuse it and revoke what the first use issued (RFC 6749 §4.1.2)."""
    db.session.rollback()
    grant_id = db.session.scalar(select(AuthorizationCode.grant_id)
                                 .where(AuthorizationCode.id == code_id))
    grant = db.session.get(Grant, grant_id) if grant_id else None
    if grant is not None:
        revoke_grant(grant, reason="code_replay", ip=ip)
    audit.record(audit.CODE_REPLAY, ip=ip, client_id=client.client_id, grant=grant_id,
                 site_id=grant.site_id if grant else None)
    metrics.REPLAYS.labels("code").inc()
    db.session.commit()
    raise OAuthError("invalid_grant", "The code was already used; its tokens are revoked.")


def refresh(client: OAuthClient, refresh_token: str, scope: str | None,
            ip: str | None = None) -> IssuedTokens:
    """A new access token and a new refresh token; the old refresh token stops
    (RFC 6749 §6, RFC 9700 §4.14.2 rotation with replay detection)."""
    moment = now()
    row = db.session.execute(
        select(Token, Grant).join(Grant, Token.grant_id == Grant.id)
        .where(Token.token_hash == token_hash(refresh_token or ""), Token.kind == TOKEN_REFRESH)
    ).first()
    if row is None or row[1].client_pk != client.id:
        raise OAuthError("invalid_grant",
                         "The refresh token is unknown or was issued to another client.")
    token, grant = row
    if grant.revoked_at is not None or token.revoked_at is not None:
        raise OAuthError("invalid_grant", "The refresh token has been revoked.")
    if token.expires_at is not None and token.expires_at <= moment:
        raise OAuthError("invalid_grant", "The refresh token has expired.")
    refresh_scope = token.scope or grant.scope or ""
    access_scope = refresh_scope
    if scope is not None:
        try:
            requested = parse_scopes(scope)
        except ValidationError as exc:
            raise OAuthError("invalid_scope", exc.message) from exc
        if not requested or not requested <= set(refresh_scope.split()):
            # §6: the scope MUST NOT include any scope not originally granted.
            raise OAuthError("invalid_scope", "A refresh may only narrow the granted scope.")
        access_scope = scope_string(requested)

    if token.rotated_at is None:
        won = db.session.execute(
            update(Token).where(Token.id == token.id, Token.rotated_at.is_(None))
            .values(rotated_at=moment)
        ).rowcount
        if won != 1:
            db.session.rollback()
            rotated_at = db.session.scalar(select(Token.rotated_at).where(Token.id == token.id))
            _reused_refresh(grant, client, rotated_at, moment, ip)
    else:
        _reused_refresh(grant, client, token.rotated_at, moment, ip)

    user = db.session.get(User, grant.user_id)
    if user is None or not user.active:
        db.session.rollback()
        raise OAuthError("invalid_grant", "The user who granted this is no longer active.")
    access, new_refresh, expires_in = _issue_pair(grant, client, access_scope=access_scope,
                                                  refresh_scope=refresh_scope, moment=moment)
    db.session.commit()
    return IssuedTokens(access, new_refresh, expires_in, access_scope, grant)


def _reused_refresh(grant: Grant, client: OAuthClient, rotated_at: datetime | None,
                    moment: datetime, ip: str | None) -> None:
    """A rotated refresh token presented again: a retry within ``REFRESH_GRACE``
    seconds is answered; anything later is theft, and the whole chain dies."""
    grace = timedelta(seconds=int(current_app.config["REFRESH_GRACE"]))
    if rotated_at is not None and grace and moment - rotated_at <= grace:
        return
    db.session.rollback()
    grant = db.session.get(Grant, grant.id)
    revoke_grant(grant, reason="refresh_replay", ip=ip)
    audit.record(audit.REFRESH_REPLAY, ip=ip, site_id=grant.site_id,
                 client_id=client.client_id, grant=grant.id)
    metrics.REPLAYS.labels("refresh").inc()
    db.session.commit()
    raise OAuthError("invalid_grant",
                     "The refresh token was already used; the whole grant is revoked.")


_tokens, _grants, _users, _sites = (Token.__table__, Grant.__table__, User.__table__,
                                    Site.__table__)
# Built once; the token by its hash (unique index), the rest by primary keys.
_ACCESS_QUERY = (
    select(_tokens.c.id, _tokens.c.last_used_at, _tokens.c.scope, _grants.c.id,
           *account_columns(_users, _sites))
    .select_from(_tokens)
    .join(_grants, _grants.c.id == _tokens.c.grant_id)
    .join(_users, _users.c.id == _grants.c.user_id)
    .join(_sites, _sites.c.id == _users.c.site_id)
    .where(
        _tokens.c.token_hash == bindparam("token_hash"),
        _tokens.c.kind == TOKEN_ACCESS,
        _tokens.c.revoked_at.is_(None),
        _grants.c.revoked_at.is_(None),
        _tokens.c.expires_at > bindparam("now"),
    )
)


def validate_access_token(access_token: str) -> Principal | None:
    """The principal of a live access token, else None. One indexed query."""
    if not access_token or len(access_token) > 512:
        return None
    row = db.session.connection().execute(
        _ACCESS_QUERY, {"token_hash": token_hash(access_token), "now": now()}).first()
    if row is None:
        return None
    token_id, last_used_at, scope, grant_id = row[:4]
    user = account_from(row, 4)
    if not user.active:
        return None
    touch(token_id, grant_id, last_used_at)
    return Principal(user=user, grant_id=grant_id, auth=AUTH_OAUTH,
                     scopes=frozenset((scope or "").split()))


def _find_token(client: OAuthClient, value: str) -> tuple[Token, Grant] | None:
    """A token of this client's (access or refresh), else None."""
    if not value or len(value) > 512:
        return None
    row = db.session.execute(
        select(Token, Grant).join(Grant, Token.grant_id == Grant.id)
        .where(Token.token_hash == token_hash(value), Grant.client_pk == client.id)
    ).first()
    return (row[0], row[1]) if row else None


def revoke_token(client: OAuthClient, value: str, ip: str | None = None) -> None:
    """RFC 7009 §2.1: a refresh token takes its whole grant with it; an access token
    goes alone. A token that is unknown or another client's changes nothing."""
    found = _find_token(client, value)
    if found is None:
        return
    token, grant = found
    if token.kind == TOKEN_REFRESH:
        revoke_grant(grant, reason="client_revocation", ip=ip)
    elif token.revoked_at is None:
        token.revoked_at = now()
        audit.record(audit.TOKEN_REVOKED, ip=ip, site_id=grant.site_id,
                     client_id=client.client_id, grant=grant.id, kind=token.kind)
    db.session.commit()


def introspect(client: OAuthClient, value: str) -> dict:
    """RFC 7662 §2.2: ``{"active": false}`` for anything not live or not this client's."""
    found = _find_token(client, value)
    if found is None:
        return {"active": False}
    token, grant = found
    moment = now()
    if (token.revoked_at is not None or grant.revoked_at is not None
            or (token.expires_at is not None and token.expires_at <= moment)
            or (token.kind == TOKEN_REFRESH and token.rotated_at is not None)):
        return {"active": False}
    user = db.session.get(User, grant.user_id)
    if user is None or not user.active:
        return {"active": False}
    from .clock import to_epoch

    return {
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
