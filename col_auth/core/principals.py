"""Who a token-authenticated request runs as: the types both protocol faces share,
the columns the validation queries read them from, and recording a token's use.

The validators read with Core statements built once (building a statement and
loading ORM objects cost more than the indexed lookup itself), so the user comes
back as plain values, not an ORM object, and showing it needs no further query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Row, or_, update

from ..extensions import db
from .clock import now
from .models import ROLE_SITE_ADMIN, Grant, Token
from .transaction import own_transaction

# What a request authenticated with a token may call itself (contract §4 ``auth``).
AUTH_USER_TOKEN = "user_token"
AUTH_SITE_TOKEN = "site_token"
AUTH_OAUTH = "oauth"


@dataclass(frozen=True, slots=True)
class SiteRef:
    """The site of an ``Account``: what /api/v1 shows of it."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Account:
    """The user a token-authenticated request runs as, read by the validation query."""

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


def account_columns(users, sites) -> tuple:
    """The columns ``account_from`` reads, labelled, from ``users`` and ``sites``
    (tables or aliases)."""
    return (users.c.id.label("account_id"), users.c.username.label("account_username"),
            users.c.full_name.label("account_full_name"), users.c.email.label("account_email"),
            users.c.site_id.label("account_site_id"), users.c.role.label("account_role"),
            users.c.active.label("account_active"), sites.c.name.label("account_site_name"))


def account_from(row: Row) -> Account:
    """The ``Account`` in a row that selected ``account_columns``."""
    return Account(row.account_id, row.account_username, row.account_full_name,
                   row.account_email, row.account_site_id, row.account_role,
                   bool(row.account_active), SiteRef(row.account_site_id, row.account_site_name))


_tokens = Token.__table__
_grants = Grant.__table__


def touch(token_id: int, grant_id: str, last_used_at: datetime | None,
          moment: datetime | None = None) -> datetime | None:
    """Record use, at most once per ``LAST_USED_RESOLUTION`` seconds per token; returns
    ``last_used_at`` as it now stands (to within the resolution). ``moment`` is now,
    when the caller has already read the clock.

    Writing on every request would serialise concurrent requests on one row, so
    the write happens only when ``last_used_at`` (as the validation query read it)
    is older than the resolution, and is conditional: of requests that all read a
    stale value at once, one writes and the others change nothing. It commits at
    once (``own_transaction``): SQLite's write lock is not held for the rest of the
    request, and a request that fails later still counts as a use.
    """
    moment = moment or now()
    resolution = timedelta(seconds=current_app.config["LAST_USED_RESOLUTION"])
    if last_used_at is not None and moment - last_used_at < resolution:
        return last_used_at
    stale = or_(_tokens.c.last_used_at.is_(None), _tokens.c.last_used_at <= moment - resolution)
    with own_transaction():
        won = db.session.execute(
            update(_tokens).where(_tokens.c.id == token_id, stale).values(last_used_at=moment)
        ).rowcount
        if won:
            db.session.execute(
                update(_grants).where(_grants.c.id == grant_id).values(last_used_at=moment))
    # Whether this request wrote it or another did within the resolution.
    return moment
