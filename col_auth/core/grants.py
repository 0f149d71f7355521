"""Grants: what a user allowed, listed in the profile and revoked from there.

Both protocol faces store a connection as a ``Grant`` with one or more ``Token``
rows; revoking the grant stops every token of it on the very next request, on
any worker, because validation always reads the database. Issuing and checking
the tokens is each face's own: ``legacy_tokens`` and ``oauth_tokens``.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update

from ..extensions import db
from . import audit
from .clock import now
from .ids import parse_guid
from .models import (
    GRANT_OAUTH,
    GRANT_SITE_TOKEN,
    AuthorizationCode,
    Grant,
    LegacyApp,
    Site,
    Token,
    User,
)


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


def revoke_grants_where(*conditions, by: User | None = None, reason: str, **detail) -> int:
    """Stop every live grant matching ``conditions`` (on ``Grant`` columns), and all
    their tokens, with one UPDATE per table however many there are; one audit row
    says how many. Returns that number."""
    moment = now()
    live = (*conditions, Grant.revoked_at.is_(None))
    db.session.execute(
        update(Token)
        .where(Token.grant_id.in_(select(Grant.id).where(*live)), Token.revoked_at.is_(None))
        .values(revoked_at=moment)
    )
    count = db.session.execute(
        update(Grant).where(*live).values(revoked_at=moment)
        .execution_options(synchronize_session=False)
    ).rowcount
    if count:
        audit.record(audit.GRANTS_REVOKED, user_id=by.id if by else None, reason=reason,
                     count=count, **detail)
    return count


def void_codes_where(*conditions) -> int:
    """Delete every pending authorization code matching ``conditions`` (on
    ``AuthorizationCode`` columns), in the caller's transaction: the consent it
    carries no longer holds (its client, module, external app or user was stopped),
    and a code redeemed later would otherwise grant anew what was stopped. Redeemed
    codes stay, so that a replay of one is still detected (RFC 6749 §4.1.2).
    Returns how many were voided."""
    return db.session.execute(
        delete(AuthorizationCode).where(*conditions, AuthorizationCode.used_at.is_(None))
        .execution_options(synchronize_session=False)
    ).rowcount


def delete_grants_of_legacy_app(legacy_app: LegacyApp) -> None:
    grant_ids = select(Grant.id).where(Grant.legacy_app_id == legacy_app.id)
    db.session.execute(delete(Token).where(Token.grant_id.in_(grant_ids)))
    db.session.execute(delete(Grant).where(Grant.legacy_app_id == legacy_app.id))


def legacy_connections_of(user: User) -> list[Grant]:
    """Every live legacy grant (user or site token) the user made, newest first
    (profile "External Apps"; OAuth2 clients are listed by ``consents``)."""
    return list(
        db.session.scalars(
            select(Grant)
            .where(Grant.user_id == user.id, Grant.revoked_at.is_(None),
                   Grant.kind != GRANT_OAUTH)
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
    guid = parse_guid(grant_id)
    return db.session.get(Grant, guid) if guid else None


def may_revoke(user: User, grant: Grant) -> bool:
    """The granter may revoke any grant of theirs; a site admin any site token of the site."""
    if grant.user_id == user.id:
        return True
    return grant.kind == GRANT_SITE_TOKEN and user.is_site_admin and grant.site_id == user.site_id
