"""Grants and their tokens: issuing, validating, listing and revoking.

Both protocol faces store what a user allowed as a ``Grant`` with one or more
``Token`` rows; revoking the grant stops every token of it on the very next
request, on any worker, because validation always reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from ..extensions import db
from . import audit, metrics
from .clock import now
from .crypto import token_hash
from .errors import PermissionDenied
from .ids import SITE_TOKEN_PREFIX, USER_TOKEN_PREFIX, new_guid, parse_guid
from .models import GRANT_SITE_TOKEN, GRANT_USER_TOKEN, Grant, LegacyApp, Site, Token, User

# What a request authenticated with a token may call itself (contract §4 ``auth``).
AUTH_USER_TOKEN = "user_token"
AUTH_SITE_TOKEN = "site_token"
AUTH_OAUTH = "oauth"

_LEGACY_PREFIXES = {USER_TOKEN_PREFIX: GRANT_USER_TOKEN, SITE_TOKEN_PREFIX: GRANT_SITE_TOKEN}


@dataclass(frozen=True)
class Principal:
    """Who a token-authenticated request runs as, and on what authority."""

    user: User
    grant: Grant
    auth: str
    scopes: frozenset[str] = field(default_factory=frozenset)


def issue_legacy_token(user: User, app: LegacyApp, kind: str, ip: str | None = None
                       ) -> tuple[Grant, str]:
    """A new grant with one token for ``app``; returns the grant and the token in clear.

    Each "Allow" creates a new token (contract §3); the clear token exists only in
    the packet that carries it back to the app.
    """
    if kind == GRANT_SITE_TOKEN and not user.is_site_admin:
        raise PermissionDenied("only site administrators can grant a site token",
                               "site_admin_required")
    prefix = SITE_TOKEN_PREFIX if kind == GRANT_SITE_TOKEN else USER_TOKEN_PREFIX
    token = prefix + new_guid()
    grant = Grant(kind=kind, user=user, site_id=user.site_id, legacy_app=app)
    grant.tokens.append(Token(kind=kind, token_hash=token_hash(token)))
    db.session.add(grant)
    db.session.flush()
    audit.record(audit.LEGACY_GRANTED, user_id=user.id, site_id=user.site_id, ip=ip,
                 app=app.app_token, kind=kind, grant=grant.id)
    metrics.GRANTS.labels("legacy", kind).inc()
    return grant, token


def validate_legacy_token(username: str, token: str) -> Principal | None:
    """The principal for ``Basic username:token``, or None if the pair is not valid.

    A user token acts only as the user who authorized it; a site token acts as
    any active user of its site, and only while its granter is still an active
    site administrator (a demoted admin's site tokens stop with the demotion).
    """
    kind = prefix = None
    for candidate, candidate_kind in _LEGACY_PREFIXES.items():
        if token.startswith(candidate):
            prefix, kind = candidate, candidate_kind
            break
    if prefix is None:
        return None
    guid = parse_guid(token[len(prefix):])
    if guid is None:
        return None
    row = db.session.execute(
        select(Token, Grant, User)
        .join(Grant, Token.grant_id == Grant.id)
        .join(User, Grant.user_id == User.id)
        .where(
            Token.token_hash == token_hash(prefix + guid),
            Token.kind == kind,
            Token.revoked_at.is_(None),
            Grant.revoked_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    token_row, grant, granter = row
    if not granter.active:
        return None
    from .accounts import username_key

    key = username_key(username)
    if kind == GRANT_USER_TOKEN:
        if key != granter.username_key:
            return None
        acting = granter
    else:
        if not granter.is_site_admin:
            return None
        acting = db.session.scalar(
            select(User).where(
                User.username_key == key, User.site_id == grant.site_id, User.active.is_(True)
            )
        )
        if acting is None:
            return None
    touch(grant, token_row)
    return Principal(user=acting, grant=grant, auth=kind)


def touch(grant: Grant, token_row: Token) -> None:
    """Record use, at most once per ``LAST_USED_RESOLUTION`` seconds per token.

    Writing on every request would serialise concurrent requests on one row.
    """
    moment = now()
    resolution = timedelta(seconds=current_app.config["LAST_USED_RESOLUTION"])
    if token_row.last_used_at is not None and moment - token_row.last_used_at < resolution:
        return
    db.session.execute(update(Token).where(Token.id == token_row.id).values(last_used_at=moment))
    db.session.execute(update(Grant).where(Grant.id == grant.id).values(last_used_at=moment))
    db.session.commit()


def revoke_grant(grant: Grant, *, by: User | None = None, ip: str | None = None,
                 reason: str = "user") -> None:
    """Stop the grant and every token of it at once."""
    if grant.revoked_at is not None:
        return
    moment = now()
    grant.revoked_at = moment
    db.session.execute(
        update(Token)
        .where(Token.grant_id == grant.id, Token.revoked_at.is_(None))
        .values(revoked_at=moment)
    )
    audit.record(audit.GRANT_REVOKED, user_id=by.id if by else None, site_id=grant.site_id,
                 ip=ip, grant=grant.id, kind=grant.kind, granted_by=grant.user_id, reason=reason)


def delete_grants_of_legacy_app(app: LegacyApp) -> None:
    grant_ids = select(Grant.id).where(Grant.legacy_app_id == app.id)
    db.session.execute(delete(Token).where(Token.grant_id.in_(grant_ids)))
    db.session.execute(delete(Grant).where(Grant.legacy_app_id == app.id))


def connections_of(user: User) -> list[Grant]:
    """Every live grant the user made, newest first (profile "External Apps")."""
    return list(
        db.session.scalars(
            select(Grant)
            .where(Grant.user_id == user.id, Grant.revoked_at.is_(None))
            .order_by(Grant.created_at.desc())
        )
    )


def site_tokens_of(site: Site) -> list[Grant]:
    """Every live site token of the site ("Authorized Apps & Websites")."""
    return list(
        db.session.scalars(
            select(Grant)
            .where(Grant.site_id == site.id, Grant.kind == GRANT_SITE_TOKEN,
                   Grant.revoked_at.is_(None))
            .order_by(Grant.created_at.desc())
        )
    )


def get_grant(grant_id: str) -> Grant | None:
    return db.session.get(Grant, grant_id)


def may_revoke(user: User, grant: Grant) -> bool:
    """The granter may revoke any grant of theirs; a site admin any site token of the site."""
    if grant.user_id == user.id:
        return True
    return grant.kind == GRANT_SITE_TOKEN and user.is_site_admin and grant.site_id == user.site_id
