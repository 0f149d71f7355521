"""Authorization codes, access and refresh tokens of the OAuth2 face.

Every rule that must hold across many workers is enforced by the database:
a code is redeemed and a refresh token rotated by one conditional UPDATE, so of
any number of concurrent attempts exactly one wins (RFC 6749 §4.1.2, §10.5;
RFC 9700 §4.14.2). The conditional UPDATE comes before anything else is
written (but the chain lock below), and the step commits at once
(``own_transaction``): a loser has written nothing, and a replay's revocation
stands although the request fails. With a ``REFRESH_GRACE``, the refreshes of one
grant (its refresh chain) also run one after another (``_lock_chain``), so a retry
within the grace can supersede what the earlier use issued and the chain never has
two live refresh tokens.
Tokens are opaque random strings stored as SHA-256 hashes. Revocation and
introspection are in ``rfc7009`` and ``rfc7662``.
Every refresh token of a chain expires ``REFRESH_TTL`` after its grant was created
(``_refresh_anchor``), unless ``REFRESH_SLIDING`` restarts it at each rotation.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, bindparam, func, or_, select, update

from ..extensions import db
from . import audit, metrics, rfc7636
from .clock import now, to_epoch
from .crypto import token_hash
from .errors import InvalidGrant, InvalidScope, ValidationError
from .grants import revoke_grant, void_codes_where
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
from .oauth_clients import client_is_usable
from .principals import AUTH_OAUTH, Principal, account_columns, account_from, touch
from .scopes import narrowed, scope_string
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
    grant: Grant
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


def _refresh_anchor(grant: Grant, moment: datetime) -> datetime:
    """Where a new refresh token's ``REFRESH_TTL`` starts: the grant's creation (the
    code exchange that followed the user's consent), so that every refresh token of
    a chain ends together and the user must authorize again ``REFRESH_TTL`` after
    consenting (ELMA365); with ``REFRESH_SLIDING``, this rotation (``moment``)."""
    return moment if _refresh_sliding() else grant.created_at


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
              expires_at=_capped(_refresh_anchor(grant, moment), _ttl("REFRESH_TTL"),
                                 client)),
    ])
    return access, refresh, max(0, int((access_expires - moment).total_seconds()))


def redeem_code(client: OAuthClient, code: str, redirect_uri: str | None,
                code_verifier: str | None, ip: str | None = None) -> IssuedTokens:
    """Exchange a code for tokens (RFC 6749 §4.1.3, RFC 7636 §4.6)."""
    moment = now()
    row = db.session.scalar(select(AuthorizationCode).where(
        AuthorizationCode.code_hash == token_hash(code or "")))
    if row is None or row.client_pk != client.id:
        raise InvalidGrant("The code is unknown or was issued to another client.")
    if row.used_at is not None:
        _code_replayed(row.id, client, ip)
    if row.expires_at <= moment:
        raise InvalidGrant("The code has expired.")
    # Stopping a client, module or external app voids its codes; checked again here
    # as access-token validation would, so a code that escaped the voiding (issued by
    # a consent racing the change) still grants nothing.
    if not client_is_usable(client, moment):
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
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        raise InvalidGrant("The user who granted this code is no longer active.")

    with own_transaction():
        won = db.session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=moment)
        ).rowcount
        if won == 1:
            grant = Grant(kind=GRANT_OAUTH, user_id=user.id, site_id=user.site_id,
                          client_pk=client.id, scope=row.scope, auth_time=row.auth_time,
                          created_at=moment)
            db.session.add(grant)
            db.session.flush()
            db.session.execute(update(AuthorizationCode).where(AuthorizationCode.id == row.id)
                               .values(grant_id=grant.id))
            access, refresh_token, expires_in = _issue_pair(
                grant, client, access_scope=row.scope, refresh_scope=row.scope, moment=moment)
            audit.record(audit.OAUTH_GRANTED, user_id=user.id, site_id=user.site_id, ip=ip,
                         client_id=client.client_id, grant=grant.id, scope=row.scope)
    if won != 1:
        # Another attempt redeemed it first (its transaction has committed: the
        # UPDATE above waited for it), so this is a second use.
        _code_replayed(row.id, client, ip)
    metrics.GRANTS.labels("oauth", GRANT_OAUTH).inc()
    return IssuedTokens(access, refresh_token, expires_in, row.scope, grant, moment, row.nonce)


def _use_up(code_id: int, moment: datetime) -> None:
    """A PKCE check failed: the code is spent, so that whoever holds it cannot try
    verifier after verifier (issue 10; RFC 9700 §2.1.1 wants PKCE to bind the code to
    the one client instance). A later redemption is then a second use, with nothing
    issued to revoke."""
    with own_transaction():
        db.session.execute(update(AuthorizationCode)
                           .where(AuthorizationCode.id == code_id,
                                  AuthorizationCode.used_at.is_(None))
                           .values(used_at=moment))


def _code_replayed(code_id: int, client: OAuthClient, ip: str | None):
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
    (RFC 6749 §6, RFC 9700 §4.14.2 rotation with replay detection)."""
    moment = now()
    row = db.session.execute(
        select(Token, Grant).join(Grant, Token.grant_id == Grant.id)
        .where(Token.token_hash == token_hash(refresh_token or ""), Token.kind == TOKEN_REFRESH)
    ).first()
    if row is None or row.Grant.client_pk != client.id:
        raise InvalidGrant("The refresh token is unknown or was issued to another client.")
    token, grant = row.Token, row.Grant
    if grant.revoked_at is not None or token.revoked_at is not None:
        raise InvalidGrant("The refresh token has been revoked.")
    if token.expires_at is not None and token.expires_at <= moment:
        raise InvalidGrant("The refresh token has expired.")
    if not _refresh_sliding() and grant.created_at + _ttl("REFRESH_TTL") <= moment:
        # The stored expiry of a token issued while sliding was on (or under a longer
        # REFRESH_TTL) does not stretch an anchored chain: the grant's age decides.
        raise InvalidGrant("The grant is older than the refresh token lifetime; "
                           "the user must authorize again.")
    refresh_scope = token.scope or grant.scope or ""
    access_scope = refresh_scope
    if scope is not None:
        try:
            access_scope = scope_string(narrowed(scope, frozenset(refresh_scope.split())))
        except ValidationError as exc:
            raise InvalidScope(exc.message) from exc
    user = db.session.get(User, grant.user_id)
    if user is None or not user.active:
        raise InvalidGrant("The user who granted this is no longer active.")

    rotated_at: datetime | None = None
    with own_transaction():
        if current_app.config["REFRESH_GRACE"]:
            # Only a retry within the grace supersedes what another refresh issued;
            # without a grace, the conditional UPDATE below alone decides a race.
            _lock_chain(grant.id)
        # Read under the lock, so the chain's timestamps follow the order in which its
        # refreshes ran (``_supersede_successors`` compares them).
        moment = now()
        won = db.session.execute(
            update(Token).where(Token.id == token.id, Token.rotated_at.is_(None),
                                Token.revoked_at.is_(None))
            .values(rotated_at=moment)
        ).rowcount
        if won != 1:
            # An earlier refresh rotated it, or a retry revoked it; under the lock,
            # whatever did so has committed, so this read is current.
            rotated_at, revoked_at = db.session.execute(
                select(Token.rotated_at, Token.revoked_at).where(Token.id == token.id)).one()
            if revoked_at is not None:
                raise InvalidGrant("The refresh token has been revoked.")
        replayed = rotated_at is not None and not _within_grace(rotated_at, moment)
        retried = rotated_at is not None and not replayed
        if retried:
            _supersede_successors(token, grant, rotated_at, moment, client, ip)
        if not replayed:
            access, new_refresh, expires_in = _issue_pair(
                grant, client, access_scope=access_scope, refresh_scope=refresh_scope,
                moment=moment)
    if replayed:
        _reused_refresh(grant.id, client, ip)
    if retried:
        metrics.REPLAYS.labels("refresh_grace_retry").inc()
    return IssuedTokens(access, new_refresh, expires_in, access_scope, grant, moment)


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


def _supersede_successors(token: Token, grant: Grant, rotated_at: datetime, moment: datetime,
                          client: OAuthClient, ip: str | None) -> None:
    """A retry of ``token`` within the grace is answered with a new pair, so what its
    earlier use issued must stop: that refresh token, the access token issued with
    it, and anything refreshed from them since (all created at or after
    ``rotated_at``). A chain then has one live refresh token at any moment, as
    rotation intends (RFC 9700 §4.14.2); without this, each retry forks it.

    The chain's live refresh token descends from every rotated one, so it is
    revoked whatever its timestamp says (clocks of several hosts may disagree)."""
    head = and_(Token.kind == TOKEN_REFRESH, Token.rotated_at.is_(None))
    superseded = db.session.execute(
        update(Token)
        .where(Token.grant_id == grant.id, Token.id != token.id,
               or_(Token.created_at >= rotated_at, head), Token.revoked_at.is_(None))
        .values(revoked_at=moment)
        .execution_options(synchronize_session=False)
    ).rowcount
    if superseded:
        audit.record(audit.TOKEN_REVOKED, ip=ip, site_id=grant.site_id,
                     client_id=client.client_id, grant=grant.id,
                     reason="refresh_grace_retry", count=superseded)


def _within_grace(rotated_at: datetime, moment: datetime) -> bool:
    """A rotated refresh token presented again within ``REFRESH_GRACE`` seconds is a
    concurrent retry, answered; later it is theft."""
    grace = timedelta(seconds=int(current_app.config["REFRESH_GRACE"]))
    return bool(grace) and moment - rotated_at <= grace


def _reused_refresh(grant_id: str, client: OAuthClient, ip: str | None) -> None:
    """A rotated refresh token presented again after the grace: the whole chain dies."""
    with own_transaction():
        grant = db.session.get(Grant, grant_id)
        revoke_grant(grant, reason="refresh_replay", ip=ip)
        audit.record(audit.REFRESH_REPLAY, ip=ip, site_id=grant.site_id,
                     client_id=client.client_id, grant=grant.id)
    metrics.REPLAYS.labels("refresh").inc()
    raise InvalidGrant("The refresh token was already used; the whole grant is revoked.")


_tokens, _grants, _users, _sites = (Token.__table__, Grant.__table__, User.__table__,
                                    Site.__table__)
# Built once; the token by its hash (unique index), the rest by primary keys.
_ACCESS_QUERY = (
    select(_tokens.c.id.label("token_id"), _tokens.c.last_used_at, _tokens.c.scope,
           _grants.c.id.label("grant_id"), *account_columns(_users, _sites))
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
    if not access_token or len(access_token) > MAX_TOKEN_LENGTH:
        return None
    row = db.session.connection().execute(
        _ACCESS_QUERY, {"token_hash": token_hash(access_token), "now": now()}).first()
    if row is None or not row.account_active:
        return None
    touch(row.token_id, row.grant_id, row.last_used_at)
    return Principal(user=account_from(row), grant_id=row.grant_id, auth=AUTH_OAUTH,
                     scopes=frozenset((row.scope or "").split()))


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
