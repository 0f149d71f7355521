"""Grants and their tokens: issuing, validating, listing and revoking.

Both protocol faces store what a user allowed as a ``Grant`` with one or more
``Token`` rows; revoking the grant stops every token of it on the very next
request, on any worker, because validation always reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, bindparam, delete, or_, select, update

from ..extensions import db
from . import audit, metrics
from .clock import now
from .crypto import token_hash
from .errors import PermissionDenied
from .ids import SITE_TOKEN_PREFIX, USER_TOKEN_PREFIX, new_guid, parse_guid
from .models import (
    GRANT_SITE_TOKEN,
    GRANT_USER_TOKEN,
    ROLE_SITE_ADMIN,
    Grant,
    LegacyApp,
    Site,
    Token,
    User,
)

# What a request authenticated with a token may call itself (contract §4 ``auth``).
AUTH_USER_TOKEN = "user_token"
AUTH_SITE_TOKEN = "site_token"
AUTH_OAUTH = "oauth"

_LEGACY_PREFIXES = {USER_TOKEN_PREFIX: GRANT_USER_TOKEN, SITE_TOKEN_PREFIX: GRANT_SITE_TOKEN}


@dataclass(frozen=True, slots=True)
class SiteRef:
    """The site of an ``Account``: what /api/v1 shows of it."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Account:
    """The user a token-authenticated request runs as, read by the validation query
    itself: plain values, no ORM object, no further query to show it."""

    id: str
    username: str
    full_name: str
    email: str
    site_id: str
    role: str
    active: bool
    site: SiteRef

    @property
    def is_site_admin(self) -> bool:
        return self.role == ROLE_SITE_ADMIN


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a token-authenticated request runs as, and on what authority."""

    user: Account
    grant_id: str
    auth: str
    scopes: frozenset[str] = field(default_factory=frozenset)


# The validators read these tables with Core statements built once: building a
# statement and loading ORM objects cost more than the indexed lookup itself.
_tokens = Token.__table__
_grants = Grant.__table__
_users = User.__table__
_sites = Site.__table__


def account_columns(users, sites) -> tuple:
    """The columns ``account_from`` reads, from ``users`` and ``sites`` (or aliases)."""
    return (users.c.id, users.c.username, users.c.full_name, users.c.email, users.c.site_id,
            users.c.role, users.c.active, sites.c.name)


def account_from(row, start: int) -> Account:
    """The ``Account`` in ``row[start:]``, as laid out by ``account_columns``."""
    uid, username, full_name, email, site_id, role, active, site_name = row[start:start + 8]
    return Account(uid, username, full_name, email, site_id, role, bool(active),
                   SiteRef(site_id, site_name))


_granter = _users.alias("granter")
_acting = _users.alias("acting")
# One indexed lookup for both legacy kinds: the token by its hash (unique index),
# its grant and granter by primary key, and the user the request acts as by
# ``username_key`` (unique index): the granter for a user token, any active user
# of the grant's site for a site token.
_LEGACY_QUERY = (
    select(_tokens.c.id, _tokens.c.last_used_at, _grants.c.id, _granter.c.active,
           _granter.c.role, *account_columns(_acting, _sites))
    .select_from(_tokens)
    .join(_grants, _grants.c.id == _tokens.c.grant_id)
    .join(_granter, _granter.c.id == _grants.c.user_id)
    .outerjoin(_acting, and_(
        _acting.c.username_key == bindparam("username_key"),
        or_(and_(_tokens.c.kind == GRANT_USER_TOKEN, _acting.c.id == _grants.c.user_id),
            and_(_tokens.c.kind == GRANT_SITE_TOKEN, _acting.c.site_id == _grants.c.site_id,
                 _acting.c.active.is_(True))),
    ))
    .outerjoin(_sites, _sites.c.id == _acting.c.site_id)
    .where(
        _tokens.c.token_hash == bindparam("token_hash"),
        _tokens.c.kind == bindparam("kind"),
        _tokens.c.revoked_at.is_(None),
        _grants.c.revoked_at.is_(None),
    )
)


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
    One indexed query (``_LEGACY_QUERY``).
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
    from .accounts import username_key

    row = db.session.connection().execute(_LEGACY_QUERY, {
        "token_hash": token_hash(prefix + guid), "kind": kind,
        "username_key": username_key(username),
    }).first()
    if row is None:
        return None
    token_id, last_used_at, grant_id, granter_active, granter_role = row[:5]
    if not granter_active or row[5] is None:
        return None  # the granter is inactive, or no such user for this token
    if kind == GRANT_SITE_TOKEN and granter_role != ROLE_SITE_ADMIN:
        return None
    touch(token_id, grant_id, last_used_at)
    return Principal(user=account_from(row, 5), grant_id=grant_id, auth=kind)


def touch(token_id: int, grant_id: str, last_used_at: datetime | None) -> None:
    """Record use, at most once per ``LAST_USED_RESOLUTION`` seconds per token.

    Writing on every request would serialise concurrent requests on one row, so
    the write happens only when ``last_used_at`` (as the validation query read it)
    is older than the resolution, and is conditional: of requests that all read a
    stale value at once, one writes and the others change nothing.
    """
    moment = now()
    resolution = timedelta(seconds=current_app.config["LAST_USED_RESOLUTION"])
    if last_used_at is not None and moment - last_used_at < resolution:
        return
    stale = or_(_tokens.c.last_used_at.is_(None), _tokens.c.last_used_at <= moment - resolution)
    won = db.session.execute(
        update(_tokens).where(_tokens.c.id == token_id, stale).values(last_used_at=moment)
    ).rowcount
    if won:
        db.session.execute(
            update(_grants).where(_grants.c.id == grant_id).values(last_used_at=moment))
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
