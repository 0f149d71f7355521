"""Authorization codes, access and refresh tokens of the OAuth2 face.

Every rule that must hold across many workers is enforced by the database:
a code is redeemed and a refresh token rotated by one conditional UPDATE, so of
any number of concurrent attempts exactly one wins (RFC 6749 §4.1.2, §10.5;
RFC 9700 §4.14.2). Each step is one transaction that commits at once
(``own_transaction``), and nothing a loser wrote is ever committed. On PostgreSQL
a step's writes are one statement whose INSERTs select from the conditional
UPDATE's RETURNING, so a loser writes nothing. On SQLite they run one by one: a
rotation's conditional UPDATE comes before anything else is written (but the
chain lock below); a redemption first inserts its grant, which the conditional
UPDATE records on the code (a foreign key, checked at once), and a loser rolls
that insert back. A replay's revocation commits in a transaction of its own, so
it stands although the request fails. With a ``REFRESH_GRACE``, the refreshes of one
grant (its refresh chain) also run one after another (``_lock_chain``), so a retry
within the grace can supersede what the earlier use issued and the chain never has
two live refresh tokens.
Tokens are opaque random strings stored as SHA-256 hashes. Revocation and
introspection are in ``rfc7009`` and ``rfc7662``.
Every refresh token of a chain expires ``REFRESH_TTL`` after its grant was created
(``_refresh_anchor``), unless ``REFRESH_SLIDING`` restarts it at each rotation.
The token endpoint reads and writes with Core statements built once (issue 11);
``tests/oauth/test_token_endpoint_statements.py`` pins how many it sends and commits.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from flask import current_app
from sqlalchemy import (
    CTE,
    BindParameter,
    Column,
    ColumnElement,
    CompoundSelect,
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)

from ..extensions import db
from . import audit, metrics, rfc7636
from .clock import now, to_epoch
from .crypto import token_hash
from .errors import InvalidGrant, InvalidScope, ValidationError
from .grants import revoke_grant, void_codes_where
from .ids import new_guid
from .models import (
    GRANT_OAUTH,
    TOKEN_ACCESS,
    TOKEN_REFRESH,
    AuditEvent,
    AuthorizationCode,
    Grant,
    OAuthClient,
    Site,
    Token,
    User,
)
from .oauth_clients import client_is_usable, join_app_usable
from .principals import AUTH_OAUTH, Principal, account_columns, account_from, touch
from .scopes import narrowed, scope_string
from .token_cache import Validated, token_cache
from .transaction import own_transaction

ACCESS_PREFIX = "col_at_"
# Longer values are no token of ours and are refused before hashing.
MAX_TOKEN_LENGTH = 512
REFRESH_PREFIX = "col_rt_"


@dataclass(frozen=True)
class IssuedTokens:
    """What the token endpoint answers with, before the id_token is added."""

    access_token: str
    refresh_token: str
    expires_in: int
    scope: str
    grant_id: str
    user_id: str  # who granted it: whose claims an id_token carries
    auth_time: datetime  # when they authenticated (the id_token's ``auth_time``)
    issued: datetime  # when the pair was issued
    nonce: str | None = None

    @property
    def issued_at(self) -> int:
        """The token response's ``issued_at``: seconds since the epoch (the iPaaS
        seed reads it with ``expires_in`` to schedule the next refresh)."""
        return to_epoch(self.issued)


def _ttl(name: str) -> timedelta:
    return timedelta(seconds=int(current_app.config[name]))


def _capped(moment: datetime, ttl: timedelta, client: OAuthClient) -> datetime:
    """``moment + ttl``, never past the client's Expires (contract §5)."""
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


def _refresh_sliding() -> bool:
    return bool(current_app.config["REFRESH_SLIDING"])  # parsed by the factory


def _refresh_anchor(granted_at: datetime, moment: datetime) -> datetime:
    """Where a new refresh token's ``REFRESH_TTL`` starts: the grant's creation
    (``granted_at``, the code exchange that followed the user's consent), so that
    every refresh token of a chain ends together and the user must authorize again
    ``REFRESH_TTL`` after consenting (ELMA365); with ``REFRESH_SLIDING``, this
    rotation (``moment``)."""
    return moment if _refresh_sliding() else granted_at


# --- the token endpoint's statements ---------------------------------------------
# Built once and run as Core statements on the session's connection: the token
# endpoint is hot (issue 11), and nothing it reads or writes is needed as an ORM
# object afterwards. None of them sets a column that ``core.revocations`` watches
# (new rows are new to every cache); revoking stays with ``revoke_grant`` and
# ``_supersede_successors``, UPDATEs of ``revoked_at``.
# The tables, as Core reads them (here and in access-token validation below).
_codes, _tokens, _grants, _users, _sites, _audit = (
    AuthorizationCode.__table__, Token.__table__, Grant.__table__, User.__table__,
    Site.__table__, AuditEvent.__table__)
# The code by its hash (unique index), of this client only, with what redemption
# needs of the user who consented and whether the client's app is usable (all by
# primary keys). A code of another client is not found, which is the answer it
# gets (RFC 6749 §4.1.3: issued to the authenticated client).
_CODE_QUERY = join_app_usable(
    select(_codes.c.id, _codes.c.redirect_uri, _codes.c.scope, _codes.c.nonce,
           _codes.c.code_challenge, _codes.c.auth_time, _codes.c.expires_at,
           _codes.c.used_at, _codes.c.user_id, _users.c.site_id, _users.c.active)
    .join_from(_codes, _users, _users.c.id == _codes.c.user_id),
    _codes.c.client_pk,
).where(_codes.c.code_hash == bindparam("code_hash"),
        _codes.c.client_pk == bindparam("client_pk"))
# The refresh token by its hash (unique index), of this client only, with its
# grant and what refreshing needs of the user: one query.
_REFRESH_QUERY = (
    select(_tokens.c.id, _tokens.c.scope, _tokens.c.expires_at,
           _tokens.c.revoked_at, _grants.c.id.label("grant_id"),
           _grants.c.scope.label("grant_scope"), _grants.c.created_at.label("granted_at"),
           _grants.c.revoked_at.label("grant_revoked_at"), _grants.c.auth_time,
           _grants.c.user_id, _grants.c.site_id, _users.c.active)
    .join_from(_tokens, _grants, _grants.c.id == _tokens.c.grant_id)
    .join(_users, _users.c.id == _grants.c.user_id)
    .where(_tokens.c.token_hash == bindparam("token_hash"),
           _tokens.c.kind == TOKEN_REFRESH,
           _grants.c.client_pk == bindparam("client_pk"))
)
_ROTATION_STATE = (select(_tokens.c.rotated_at, _tokens.c.revoked_at)
                   .where(_tokens.c.id == bindparam("token_id")))

# The two writes that decide a race (exactly one of concurrent attempts changes the
# row): redeeming a code, which records the grant it produced in the same
# statement, and rotating a refresh token.
_REDEEM_CODE = (
    update(_codes)
    .where(_codes.c.id == bindparam("code_id"), _codes.c.used_at.is_(None))
    .values(used_at=bindparam("moment"), grant_id=bindparam("new_grant_id"))
)
_ROTATE = (
    update(_tokens)
    .where(_tokens.c.id == bindparam("token_id"), _tokens.c.rotated_at.is_(None),
           _tokens.c.revoked_at.is_(None))
    .values(rotated_at=bindparam("moment"))
)
_USE_UP_CODE = (
    update(_codes)
    .where(_codes.c.id == bindparam("code_id"), _codes.c.used_at.is_(None))
    .values(used_at=bindparam("moment"))
)


def _bound(column: Column, name: str) -> BindParameter:
    """The parameter ``name``, typed as ``column`` (PostgreSQL is told the type)."""
    return bindparam(name, type_=column.type)


def _row(source: CTE | None, *values: ColumnElement) -> Select:
    """``values`` as one row to insert (INSERT .. SELECT), once per row of
    ``source``: the CTE whose outcome decides whether it is written, if any."""
    row = select(*values)
    return row if source is None else row.select_from(source)


# The rows the token endpoint inserts, as SELECTs of the parameters named in
# ``_Pair.params`` and ``_redemption_params``. No parameter is named as a column
# of a table the step UPDATEs: SQLAlchemy would add it to the UPDATE's SET.
_GRANT_COLUMNS = ["id", "kind", "user_id", "site_id", "client_pk", "scope", "auth_time",
                  "created_at"]
_PAIR_COLUMNS = ["grant_id", "kind", "token_hash", "scope", "created_at", "expires_at"]
_AUDIT_COLUMNS = ["at", "event", "user_id", "site_id", "ip", "detail"]


def _grant_row(source: CTE | None = None) -> Select:
    g = _grants.c
    return _row(source, _bound(g.id, "new_grant_id"), literal(GRANT_OAUTH, g.kind.type),
                _bound(g.user_id, "grant_user_id"), _bound(g.site_id, "grant_site_id"),
                _bound(g.client_pk, "grant_client_pk"), _bound(g.scope, "grant_scope"),
                _bound(g.auth_time, "grant_auth_time"), _bound(g.created_at, "moment"))


def _pair_rows(source: CTE | None = None) -> CompoundSelect:
    """The access and the refresh token: both rows in one INSERT."""
    t = _tokens.c

    def one(kind: str, name: str) -> Select:
        return _row(source, _bound(t.grant_id, "new_grant_id"), literal(kind, t.kind.type),
                    _bound(t.token_hash, f"{name}_hash"), _bound(t.scope, f"{name}_scope"),
                    _bound(t.created_at, "moment"), _bound(t.expires_at, f"{name}_expires"))

    return union_all(one(TOKEN_ACCESS, "access"), one(TOKEN_REFRESH, "refresh"))


def _audit_row(source: CTE | None = None) -> Select:
    return _row(source, *(_bound(_audit.c[name], f"audit_{name}") for name in _AUDIT_COLUMNS))


_INSERT_GRANT = insert(_grants).from_select(_GRANT_COLUMNS, _grant_row())
_INSERT_PAIR = insert(_tokens).from_select(_PAIR_COLUMNS, _pair_rows())
_INSERT_AUDIT = insert(_audit).from_select(_AUDIT_COLUMNS, _audit_row())

# PostgreSQL runs each step in one statement (data-modifying CTEs): every INSERT
# selects FROM the conditional UPDATE's RETURNING, so an attempt that lost the race
# writes nothing at all, and the foreign keys, checked at the statement's end, see
# the grant the code now names. A row comes back if and only if this attempt won.
# SQLite has no data-modifying CTE: there the same statements run one by one.
_won = _REDEEM_CODE.returning(_codes.c.id).cte("won")
_PG_REDEEM = select(_won.c.id).add_cte(
    insert(_grants).from_select(_GRANT_COLUMNS, _grant_row(_won)).cte("new_grant"),
    insert(_tokens).from_select(_PAIR_COLUMNS, _pair_rows(_won)).cte("new_pair"),
    insert(_audit).from_select(_AUDIT_COLUMNS, _audit_row(_won)).cte("granted"),
)
_rotated = _ROTATE.returning(_tokens.c.id).cte("rotated")
_PG_ROTATE = select(_rotated.c.id).add_cte(
    insert(_tokens).from_select(_PAIR_COLUMNS, _pair_rows(_rotated)).cte("new_pair"))


def _connection() -> Connection:
    """The session's connection, in its transaction (begun if none is)."""
    return db.session.connection()


def _one_statement(connection: Connection) -> bool:
    """Whether the database runs a step's writes as one statement (``_PG_REDEEM``,
    ``_PG_ROTATE``)."""
    return connection.dialect.name == "postgresql"


class _LostRace(Exception):
    """Another redemption of the code won the conditional UPDATE."""


@dataclass(frozen=True)
class _Pair:
    """A new access and refresh token, in clear, and the parameters of their rows."""

    access: str
    refresh: str
    expires_in: int
    params: dict[str, Any]


def _new_pair(grant_id: str, granted_at: datetime, client: OAuthClient, *,
              access_scope: str, refresh_scope: str, moment: datetime) -> _Pair:
    """A new pair for the grant, neither token outliving the client (``_capped``);
    the refresh token's lifetime starts at ``_refresh_anchor``."""
    access = ACCESS_PREFIX + secrets.token_urlsafe(32)
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    access_expires = _capped(moment, _ttl("ACCESS_TTL"), client)
    params = {
        "new_grant_id": grant_id, "moment": moment,
        "access_hash": token_hash(access), "access_scope": access_scope,
        "access_expires": access_expires,
        "refresh_hash": token_hash(refresh), "refresh_scope": refresh_scope,
        "refresh_expires": _capped(_refresh_anchor(granted_at, moment), _ttl("REFRESH_TTL"),
                                   client),
    }
    return _Pair(access, refresh, max(0, int((access_expires - moment).total_seconds())),
                 params)


def redeem_code(client: OAuthClient, code: str, redirect_uri: str | None,
                code_verifier: str | None, ip: str | None = None) -> IssuedTokens:
    """Exchange a code for tokens (RFC 6749 §4.1.3, RFC 7636 §4.6): one read of the
    code with its user, then one transaction that writes the grant, redeems the
    code, and writes the token pair and the audit row."""
    moment = now()
    row = _connection().execute(_CODE_QUERY, {"code_hash": token_hash(code or ""),
                                              "client_pk": client.id}).first()
    if row is None:
        raise InvalidGrant("The code is unknown or was issued to another client.")
    if row.used_at is not None:
        _code_replayed(row.id, client, ip)
    _check_code(row, client, redirect_uri, code_verifier, moment)
    return _redeem(row, client, moment, ip)


def _check_code(row: Row, client: OAuthClient, redirect_uri: str | None,
                code_verifier: str | None, moment: datetime) -> None:
    """Refuse an unused code that may not be redeemed by this request."""
    if row.expires_at <= moment:
        raise InvalidGrant("The code has expired.")
    # Stopping a client, module or external app voids its codes; checked again here
    # as access-token validation would, so a code that escaped the voiding (issued by
    # a consent racing the change) still grants nothing.
    if not client_is_usable(client, moment, app_usable=row.app_usable):
        raise InvalidGrant("The client of this code is expired or disabled.")
    if redirect_uri != row.redirect_uri:
        raise InvalidGrant("redirect_uri must be the one of the authorization request.")
    if client.pkce_required and not row.code_challenge:
        # The authorization endpoint issues no such code; refused here as well, so
        # that a code of a public client is never redeemed without PKCE (RFC 9700
        # §2.1.1), whatever path it was issued by.
        raise InvalidGrant("This client must use PKCE; the code has no code_challenge.")
    if row.code_challenge:
        if not rfc7636.verify(code_verifier, row.code_challenge):
            _use_up(row.id, moment)
            raise InvalidGrant("code_verifier does not match the code_challenge; "
                               "the code is used up.")
    elif code_verifier is not None:
        # A verifier for a code issued without a challenge is a downgrade attempt
        # (RFC 9700 §4.8.2).
        _use_up(row.id, moment)
        raise InvalidGrant("This code was issued without a code_challenge; "
                           "the code is used up.")
    if not row.active:
        raise InvalidGrant("The user who granted this code is no longer active.")


def _redeem(row: Row, client: OAuthClient, moment: datetime, ip: str | None) -> IssuedTokens:
    """Redeem the checked code: exactly one of concurrent attempts gets here and
    commits; every other one is a second use (RFC 6749 §4.1.2)."""
    grant_id = new_guid()
    pair = _new_pair(grant_id, moment, client, access_scope=row.scope,
                     refresh_scope=row.scope, moment=moment)
    try:
        with own_transaction():
            if not _write_redemption(_redemption_params(row, client, pair, ip)):
                raise _LostRace
    except _LostRace:
        # Another attempt redeemed it first (its transaction has committed: the
        # UPDATE waited for it), so this is a second use; or the code was voided
        # meanwhile (``_code_replayed`` tells them apart).
        _code_replayed(row.id, client, ip)
    metrics.GRANTS.labels("oauth", GRANT_OAUTH).inc()
    return IssuedTokens(pair.access, pair.refresh, pair.expires_in, row.scope, grant_id,
                        row.user_id, row.auth_time, moment, row.nonce)


def _redemption_params(row: Row, client: OAuthClient, pair: _Pair, ip: str | None
                       ) -> dict[str, Any]:
    """What the redemption's statements bind: the code, the grant, the token pair and
    the audit row."""
    grant_id = pair.params["new_grant_id"]
    granted = audit.values(audit.OAUTH_GRANTED, user_id=row.user_id, site_id=row.site_id,
                           ip=ip, client_id=client.client_id, grant=grant_id, scope=row.scope)
    return {**pair.params, "code_id": row.id, "grant_user_id": row.user_id,
            "grant_site_id": row.site_id, "grant_client_pk": client.id,
            "grant_scope": row.scope, "grant_auth_time": row.auth_time,
            **{f"audit_{k}": v for k, v in granted.items()}}


def _write_redemption(params: dict[str, Any]) -> bool:
    """Insert the grant, redeem the code (the conditional UPDATE, which records the
    grant), insert the token pair and the audit row; whether this attempt won.
    One statement on PostgreSQL (``_PG_REDEEM``). On SQLite the grant comes first,
    as the code's foreign key to it is checked at once, and the caller rolls back a
    loser's transaction."""
    connection = _connection()
    if _one_statement(connection):
        return connection.execute(_PG_REDEEM, params).first() is not None
    connection.execute(_INSERT_GRANT, params)
    if connection.execute(_REDEEM_CODE, params).rowcount != 1:
        return False
    connection.execute(_INSERT_PAIR, params)
    connection.execute(_INSERT_AUDIT, params)
    return True


def _use_up(code_id: int, moment: datetime) -> None:
    """A PKCE check failed: the code is spent, so that whoever holds it cannot try
    verifier after verifier (issue 10; RFC 9700 §2.1.1 wants PKCE to bind the code to
    the one client instance). A later redemption is then a second use, with nothing
    issued to revoke."""
    with own_transaction():
        _connection().execute(_USE_UP_CODE, {"code_id": code_id, "moment": moment})


def _code_replayed(code_id: int, client: OAuthClient, ip: str | None) -> NoReturn:
    """A second use: refuse it and revoke what the first use issued (RFC 6749 §4.1.2)."""
    with own_transaction():
        found = db.session.execute(select(AuthorizationCode.grant_id)
                                   .where(AuthorizationCode.id == code_id)).first()
        if found is None:  # voided meanwhile (``void_codes_where``): no replay
            raise InvalidGrant("The code is unknown or was issued to another client.")
        grant_id = found.grant_id
        grant = db.session.get(Grant, grant_id) if grant_id else None
        if grant is not None:
            revoke_grant(grant, reason="code_replay", ip=ip)
        audit.record(audit.CODE_REPLAY, ip=ip, client_id=client.client_id, grant=grant_id,
                     site_id=grant.site_id if grant else None)
    metrics.REPLAYS.labels("code").inc()
    raise InvalidGrant("The code was already used; its tokens are revoked.")


def refresh(client: OAuthClient, refresh_token: str, scope: str | None,
            ip: str | None = None) -> IssuedTokens:
    """A new access token and a new refresh token; the old refresh token stops
    (RFC 6749 §6, RFC 9700 §4.14.2 rotation with replay detection): one read of the
    token with its grant and user, then one transaction that rotates it and writes
    the new pair."""
    moment = now()
    row = _connection().execute(_REFRESH_QUERY, {
        "token_hash": token_hash(refresh_token or ""), "client_pk": client.id}).first()
    if row is None:
        raise InvalidGrant("The refresh token is unknown or was issued to another client.")
    _check_refresh(row, moment)
    refresh_scope = row.scope or row.grant_scope or ""
    access_scope = _access_scope(scope, refresh_scope)
    if not row.active:
        raise InvalidGrant("The user who granted this is no longer active.")

    rotated_at: datetime | None = None
    with own_transaction():
        if current_app.config["REFRESH_GRACE"]:
            # Only a retry within the grace supersedes what another refresh issued;
            # without a grace, the conditional UPDATE alone decides a race.
            _lock_chain(row.grant_id)
        # Read under the lock, so the chain's timestamps follow the order in which its
        # refreshes ran (``_supersede_successors`` compares them).
        moment = now()
        pair = _new_pair(row.grant_id, row.granted_at, client, access_scope=access_scope,
                         refresh_scope=refresh_scope, moment=moment)
        params = {**pair.params, "token_id": row.id}
        if not _rotate_and_issue(params):
            rotated_at = _rotated_at(row.id)
        replayed = rotated_at is not None and not _within_grace(rotated_at, moment)
        retried = rotated_at is not None and not replayed
        if retried:
            _supersede_successors(row.id, row.grant_id, row.site_id, rotated_at, moment,
                                  client, ip)
            _connection().execute(_INSERT_PAIR, params)
    if replayed:
        _reused_refresh(row.grant_id, client, ip)
    if retried:
        metrics.REPLAYS.labels("refresh_grace_retry").inc()
    return IssuedTokens(pair.access, pair.refresh, pair.expires_in, access_scope, row.grant_id,
                        row.user_id, row.auth_time or row.granted_at, moment)


def _rotate_and_issue(params: dict[str, Any]) -> bool:
    """Rotate the refresh token (the conditional UPDATE) and, if this attempt did,
    insert the new pair; whether it did."""
    connection = _connection()
    if _one_statement(connection):
        return connection.execute(_PG_ROTATE, params).first() is not None
    if connection.execute(_ROTATE, params).rowcount != 1:
        return False
    connection.execute(_INSERT_PAIR, params)
    return True


def _check_refresh(row: Row, moment: datetime) -> None:
    """Refuse a refresh token that is revoked or expired, or whose grant is."""
    if row.grant_revoked_at is not None or row.revoked_at is not None:
        raise InvalidGrant("The refresh token has been revoked.")
    if row.expires_at is not None and row.expires_at <= moment:
        raise InvalidGrant("The refresh token has expired.")
    if not _refresh_sliding() and row.granted_at + _ttl("REFRESH_TTL") <= moment:
        # The stored expiry of a token issued while sliding was on (or under a longer
        # REFRESH_TTL) does not stretch an anchored chain: the grant's age decides.
        raise InvalidGrant("The grant is older than the refresh token lifetime; "
                           "the user must authorize again.")


def _access_scope(requested: str | None, refresh_scope: str) -> str:
    """The new access token's scope: the refresh token's, or the narrower one the
    request asks for (RFC 6749 §6: no scope beyond what was granted)."""
    if requested is None:
        return refresh_scope
    try:
        return scope_string(narrowed(requested, frozenset(refresh_scope.split())))
    except ValidationError as exc:
        raise InvalidScope(exc.message) from exc


def _rotated_at(token_id: int) -> datetime:
    """When the token was rotated, having lost the conditional UPDATE: an earlier
    refresh rotated it, or a retry revoked it. Under the chain lock whatever did so
    has committed, so this read is current; without it, the UPDATE waited for it."""
    state = _connection().execute(_ROTATION_STATE, {"token_id": token_id}).first()
    if state is None or state.revoked_at is not None or state.rotated_at is None:
        # Revoked, or purged meanwhile: nothing to answer with, nothing to revoke.
        raise InvalidGrant("The refresh token has been revoked.")
    return state.rotated_at


def _lock_chain(grant_id: str) -> None:
    """Hold the grant's refresh chain until the transaction ends: refreshes of one
    grant then run one after another on every worker, and each sees what the one
    before it issued.

    PostgreSQL: a transaction-level advisory lock, which nothing else takes (a row
    lock on the grant would also be waited for by ``principals.touch``, which locks
    a token and then the grant: a deadlock). SQLite: any write takes the one
    database write lock until commit, so a write that changes nothing is enough.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"refresh-chain:{grant_id}".encode()).digest()
        db.session.execute(select(func.pg_advisory_xact_lock(
            int.from_bytes(digest[:8], "big", signed=True))))
    else:
        db.session.execute(update(_grants).where(_grants.c.id == grant_id)
                           .values(last_used_at=_grants.c.last_used_at))


def _supersede_successors(token_id: int, grant_id: str, site_id: str, rotated_at: datetime,
                          moment: datetime, client: OAuthClient, ip: str | None) -> None:
    """A retry of the token ``token_id`` within the grace is answered with a new pair,
    so what its earlier use issued must stop: that refresh token, the access token
    issued with it, and anything refreshed from them since (all created at or after
    ``rotated_at``). A chain then has one live refresh token at any moment, as
    rotation intends (RFC 9700 §4.14.2); without this, each retry forks it.

    The chain's live refresh token descends from every rotated one, so it is
    revoked whatever its timestamp says (clocks of several hosts may disagree)."""
    head = and_(Token.kind == TOKEN_REFRESH, Token.rotated_at.is_(None))
    superseded = db.session.execute(
        update(Token)
        .where(Token.grant_id == grant_id, Token.id != token_id,
               or_(Token.created_at >= rotated_at, head), Token.revoked_at.is_(None))
        .values(revoked_at=moment)
        .execution_options(synchronize_session=False)
    ).rowcount
    if superseded:
        audit.record(audit.TOKEN_REVOKED, ip=ip, site_id=site_id, client_id=client.client_id,
                     grant=grant_id, reason="refresh_grace_retry", count=superseded)


def _within_grace(rotated_at: datetime, moment: datetime) -> bool:
    """A rotated refresh token presented again within ``REFRESH_GRACE`` seconds is a
    concurrent retry, answered; later it is theft."""
    grace = timedelta(seconds=int(current_app.config["REFRESH_GRACE"]))
    return bool(grace) and moment - rotated_at <= grace


def _reused_refresh(grant_id: str, client: OAuthClient, ip: str | None) -> NoReturn:
    """A rotated refresh token presented again after the grace: the whole chain dies."""
    with own_transaction():
        grant = db.session.get(Grant, grant_id)
        revoke_grant(grant, reason="refresh_replay", ip=ip)
        audit.record(audit.REFRESH_REPLAY, ip=ip, site_id=grant.site_id,
                     client_id=client.client_id, grant=grant.id)
    metrics.REPLAYS.labels("refresh").inc()
    raise InvalidGrant("The refresh token was already used; the whole grant is revoked.")


# Built once; the token by its hash (unique index), the rest by primary keys.
_ACCESS_QUERY = (
    select(_tokens.c.id.label("token_id"), _tokens.c.last_used_at, _tokens.c.scope,
           _tokens.c.expires_at, _grants.c.id.label("grant_id"),
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


def validate_access_token(access_token: str, before_query: Callable[[], None] | None = None
                          ) -> Principal | None:
    """The principal of a live access token, else None: from this worker's cache
    (``token_cache``) when nothing was revoked since, else one indexed query
    (``before_query`` is called before it)."""
    if not access_token or len(access_token) > MAX_TOKEN_LENGTH:
        return None
    hashed = token_hash(access_token)
    return token_cache().principal(("bearer", hashed), lambda: _validate_access(hashed),
                                   before_query)


def _validate_access(hashed: str) -> Validated | None:
    row = db.session.connection().execute(
        _ACCESS_QUERY, {"token_hash": hashed, "now": now()}).first()
    if row is None or not row.account_active:
        return None
    last_used_at = touch(row.token_id, row.grant_id, row.last_used_at)
    principal = Principal(user=account_from(row), grant_id=row.grant_id, auth=AUTH_OAUTH,
                          scopes=frozenset((row.scope or "").split()))
    return Validated(principal, row.token_id, last_used_at, row.expires_at)


def void_codes_of_user(user: User) -> int:
    """Void every pending code ``user`` consented to (call it in the transaction
    that deactivates them); how many. Redemption refuses an inactive user anyway."""
    return void_codes_where(AuthorizationCode.user_id == user.id)


def client_of_access_token(value: str | None) -> OAuthClient | None:
    """The client an access token was issued to, live or not, else None: whose pages
    may read a UserInfo answer (CORS), its refusal included, from which the page
    learns that it must refresh."""
    if not value or len(value) > MAX_TOKEN_LENGTH:
        return None
    return db.session.scalar(
        select(OAuthClient).join(Grant, Grant.client_pk == OAuthClient.id)
        .join(Token, Token.grant_id == Grant.id)
        .where(Token.token_hash == token_hash(value), Token.kind == TOKEN_ACCESS))


def find_client_token(client: OAuthClient, value: str) -> tuple[Token, Grant] | None:
    """A token of this client's (access or refresh), else None: what revocation
    (RFC 7009) and introspection (RFC 7662) look up."""
    if not value or len(value) > MAX_TOKEN_LENGTH:
        return None
    row = db.session.execute(
        select(Token, Grant).join(Grant, Token.grant_id == Grant.id)
        .where(Token.token_hash == token_hash(value), Grant.client_pk == client.id)
    ).first()
    return (row.Token, row.Grant) if row else None
