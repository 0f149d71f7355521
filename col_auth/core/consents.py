"""Remembered consents: what a user allowed a client, so that asking again for the
same or fewer scopes needs no consent page (OIDC Core §3.1.2.4), and ``prompt=none``
can be answered at all (§3.1.2.6: ``consent_required`` otherwise).

Forgetting a consent is revoking the connection: the profile's "Revoke" forgets it,
revokes every grant of that client for that user and voids their pending codes, in
one transaction, so nothing issued under it works on the next request anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select

from ..extensions import db
from . import audit
from .clock import now
from .grants import revoke_grants_where, void_codes_where
from .models import GRANT_OAUTH, AuthorizationCode, Consent, Grant, OAuthClient, User
from .oauth_clients import find_client
from .scopes import scope_string


def consent_of(user: User, client: OAuthClient) -> Consent | None:
    return db.session.scalar(select(Consent).where(Consent.user_id == user.id,
                                                   Consent.client_pk == client.id))


def covers(user: User, client: OAuthClient, scopes: frozenset[str]) -> bool:
    """Has ``user`` allowed ``client`` at least ``scopes``?"""
    consent = consent_of(user, client)
    return consent is not None and scopes <= consent.scope_set


def remember(user: User, client: OAuthClient, scopes: frozenset[str]) -> Consent:
    """Record that ``user`` allowed ``scopes``; what they allowed before is kept."""
    consent = consent_of(user, client)
    moment = now()
    if consent is None:
        consent = Consent(user_id=user.id, client_pk=client.id, scope=scope_string(scopes),
                          created_at=moment, updated_at=moment)
        db.session.add(consent)
    elif not scopes <= consent.scope_set:
        consent.scope = scope_string(consent.scope_set | scopes)
        consent.updated_at = moment
    return consent


def forget(user: User, client: OAuthClient, *, by: User | None = None,
           ip: str | None = None) -> int:
    """Forget the consent and stop everything granted under it; how many grants."""
    void_codes_where(AuthorizationCode.user_id == user.id,
                     AuthorizationCode.client_pk == client.id)
    revoked = revoke_grants_where(Grant.kind == GRANT_OAUTH, Grant.user_id == user.id,
                                  Grant.client_pk == client.id, by=by, reason="user",
                                  client_id=client.client_id)
    forgotten = db.session.execute(
        delete(Consent).where(Consent.user_id == user.id, Consent.client_pk == client.id)
        .execution_options(synchronize_session=False)).rowcount
    if forgotten:
        audit.record(audit.CONSENT_FORGOTTEN, user_id=by.id if by else None, ip=ip,
                     site_id=user.site_id, client_id=client.client_id, granted_by=user.id)
    return revoked


@dataclass(frozen=True)
class OAuthConnection:
    """One OAuth2 client as the profile's External Apps lists it: what the user
    allowed it (the remembered consent, or what live grants hold) and when."""

    client: OAuthClient
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    kind: str = GRANT_OAUTH

    @property
    def id(self) -> str:
        """What the profile's "Revoke" names: the client."""
        return self.client.client_id


def connections_of(user: User) -> list[OAuthConnection]:
    """Every client the user has a remembered consent or a live grant with, newest
    first. Grants are summed up by the database (a user may have hundreds, one per
    sign-in): one row per client and distinct scope."""
    by_client: dict[str, dict] = {}
    for consent in db.session.scalars(select(Consent).where(Consent.user_id == user.id)):
        by_client[consent.client_pk] = {"scopes": consent.scope_set,
                                        "created_at": consent.created_at, "last_used_at": None}
    live = db.session.execute(
        select(Grant.client_pk, Grant.scope, func.min(Grant.created_at),
               func.max(Grant.last_used_at))
        .where(Grant.user_id == user.id, Grant.kind == GRANT_OAUTH, Grant.revoked_at.is_(None))
        .group_by(Grant.client_pk, Grant.scope))
    for client_pk, scope, created_at, last_used_at in live:
        entry = by_client.setdefault(client_pk, {"scopes": frozenset(),
                                                 "created_at": created_at, "last_used_at": None})
        entry["scopes"] = entry["scopes"] | frozenset((scope or "").split())
        entry["created_at"] = min(entry["created_at"], created_at)
        if last_used_at and (entry["last_used_at"] is None or last_used_at > entry["last_used_at"]):
            entry["last_used_at"] = last_used_at
    clients = {c.id: c for c in db.session.scalars(
        select(OAuthClient).where(OAuthClient.id.in_(list(by_client))))} if by_client else {}
    connections = [OAuthConnection(clients[pk], scope_string(e["scopes"]), e["created_at"],
                                   e["last_used_at"]) for pk, e in by_client.items()]
    return sorted(connections, key=lambda c: c.created_at, reverse=True)


def connected_client(user: User, client_id: str) -> OAuthClient | None:
    """The client ``client_id`` names if ``user`` has a consent or a grant with it."""
    client = find_client(client_id)
    if client is None:
        return None
    has_consent = consent_of(user, client) is not None
    has_grant = db.session.scalar(select(Grant.id).where(
        Grant.user_id == user.id, Grant.client_pk == client.id).limit(1)) is not None
    return client if has_consent or has_grant else None
