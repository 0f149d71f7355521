"""The Connections Online tokens: ``{UserToken}`` and ``{SiteToken}``, issued at
"Allow" on /auth and checked on every ``Basic username:token`` request.

Each is a ``Grant`` with one ``Token`` row, stored only as its SHA-256 hash;
revoking the grant (``grants``) stops it on the very next request, on any
worker: a worker's cached validation (``token_cache``) is dropped as soon as the
revocation commits (``revocations``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from sqlalchemy import and_, bindparam, or_, select

from ..extensions import db
from . import audit, metrics
from .accounts import username_key
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
from .principals import Principal, account_columns, account_from, touch
from .token_cache import Validated, token_cache

# RFC 8265's profile costs microseconds per call; a worker sees few usernames. An
# invalid one raises, and exceptions are not cached.
_username_key = functools.lru_cache(maxsize=4096)(username_key)

_KINDS_BY_PREFIX = {USER_TOKEN_PREFIX: GRANT_USER_TOKEN, SITE_TOKEN_PREFIX: GRANT_SITE_TOKEN}

_tokens = Token.__table__
_grants = Grant.__table__
_sites = Site.__table__
_granter = User.__table__.alias("granter")
_acting = User.__table__.alias("acting")
# One indexed lookup for both kinds: the token by its hash (unique index), its
# grant and granter by primary key, and the user the request acts as by
# ``username_key`` (unique index): the granter for a user token, any active user
# of the grant's site for a site token.
_LEGACY_QUERY = (
    select(_tokens.c.id.label("token_id"), _tokens.c.last_used_at,
           _grants.c.id.label("grant_id"), _granter.c.active.label("granter_active"),
           _granter.c.role.label("granter_role"), *account_columns(_acting, _sites))
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


def issue_legacy_token(user: User, legacy_app: LegacyApp, kind: str, ip: str | None = None
                       ) -> tuple[Grant, str]:
    """A new grant with one token for ``legacy_app``; returns the grant and the token
    in clear.

    Each "Allow" creates a new token (contract §3); the clear token exists only in
    the packet that carries it back to the app.
    """
    if kind == GRANT_SITE_TOKEN and not user.is_site_admin:
        raise PermissionDenied("site_admin_required",
                               "only site administrators can grant a site token")
    prefix = SITE_TOKEN_PREFIX if kind == GRANT_SITE_TOKEN else USER_TOKEN_PREFIX
    token = prefix + new_guid()
    grant = Grant(kind=kind, user=user, site_id=user.site_id, legacy_app=legacy_app)
    grant.tokens.append(Token(kind=kind, token_hash=token_hash(token)))
    db.session.add(grant)
    db.session.flush()
    audit.record(audit.LEGACY_GRANTED, user_id=user.id, site_id=user.site_id, ip=ip,
                 app=legacy_app.app_token, kind=kind, grant=grant.id)
    metrics.GRANTS.labels("legacy", kind).inc()
    return grant, token


def validate_legacy_token(username: str, token: str,
                          before_query: Callable[[], None] | None = None) -> Principal | None:
    """The principal for ``Basic username:token``, or None if the pair is not valid.

    A user token acts only as the user who authorized it; a site token acts as
    any active user of its site, and only while its granter is still an active
    site administrator (a demoted admin's site tokens stop with the demotion).
    From this worker's cache (``token_cache``) when nothing was revoked since,
    else one indexed query (``_LEGACY_QUERY``; ``before_query`` is called before it).
    """
    kind = prefix = None
    for candidate, candidate_kind in _KINDS_BY_PREFIX.items():
        if token.startswith(candidate):
            prefix, kind = candidate, candidate_kind
            break
    if prefix is None:
        return None
    guid = parse_guid(token[len(prefix):])
    if guid is None:
        return None
    hashed, key = token_hash(prefix + guid), _username_key(username)
    return token_cache().principal(("basic", key, hashed),
                                   lambda: _validate(hashed, kind, key), before_query)


def _validate(hashed: str, kind: str, key: str) -> Validated | None:
    row = db.session.connection().execute(_LEGACY_QUERY, {
        "token_hash": hashed, "kind": kind, "username_key": key,
    }).first()
    if row is None:
        return None
    if not row.granter_active or row.account_id is None:
        return None  # the granter is inactive, or no such user for this token
    if kind == GRANT_SITE_TOKEN and row.granter_role != ROLE_SITE_ADMIN:
        return None
    last_used_at = touch(row.token_id, row.grant_id, row.last_used_at)
    principal = Principal(user=account_from(row), grant_id=row.grant_id, auth=kind)
    return Validated(principal, row.token_id, last_used_at, None)
