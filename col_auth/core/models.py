"""Tables of the grant store, shared by both protocol faces.

Timestamps are naive UTC (see ``clock``). Secrets never appear here in clear:
tokens are SHA-256 hashes, AppSecrets are Fernet ciphertext.
"""

from __future__ import annotations

import json
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .clock import now
from .ids import new_guid

GUID = String(36)

ROLE_MEMBER = "member"
ROLE_SITE_ADMIN = "site_admin"

# Grant kinds: what the grant lets its holder do.
GRANT_USER_TOKEN = "user_token"
GRANT_SITE_TOKEN = "site_token"


class Site(db.Model):
    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(GUID, primary_key=True, default=new_guid)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)

    users: Mapped[list[User]] = relationship(back_populates="site")


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(GUID, primary_key=True, default=new_guid)
    username: Mapped[str] = mapped_column(String(150))
    # Usernames are unique compared case-insensitively (contract §2).
    username_key: Mapped[str] = mapped_column(String(150), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    # Optional OpenID claims (OIDC Core §5.1): the scopes ``profile``, ``phone`` and
    # ``address`` return them where the account has them.
    given_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    family_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    phone_number: Mapped[str] = mapped_column(String(40), default="", server_default="")
    # The postal address as one block of text: the claim's ``formatted`` member (§5.1.1).
    address: Mapped[str] = mapped_column(Text, default="", server_default="")
    # When the profile claims last changed (the ``updated_at`` claim).
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    role: Mapped[str] = mapped_column(String(20), default=ROLE_MEMBER)
    is_system_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)

    site: Mapped[Site] = relationship(back_populates="users")

    @property
    def is_site_admin(self) -> bool:
        return self.role == ROLE_SITE_ADMIN

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active


class LoginSession(db.Model):
    """A sign-in, live until logout, "Sign out everywhere", a password change,
    deactivation or ``expires_at``. The session cookie carries the id; only its hash
    is stored here."""

    __tablename__ = "login_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class LegacyApp(db.Model):
    """An app registered at /developer: AppToken, encrypted AppSecret, Return URL."""

    __tablename__ = "legacy_apps"

    id: Mapped[str] = mapped_column(GUID, primary_key=True, default=new_guid)
    # The AppToken: a GUID the app sends in /auth/?apptoken=.
    app_token: Mapped[str] = mapped_column(GUID, unique=True, default=new_guid)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    return_url: Mapped[str] = mapped_column(String(2000))
    privacy_url: Mapped[str | None] = mapped_column(String(2000))
    icon: Mapped[bytes | None] = mapped_column(LargeBinary)
    icon_mimetype: Mapped[str | None] = mapped_column(String(50))
    # Fernet ciphertext of the whole "{SecretKey}GUID" string.
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=now)

    owner: Mapped[User] = relationship()


class Grant(db.Model):
    """One connection a user granted: what they will see and revoke in their profile."""

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(GUID, primary_key=True, default=new_guid)
    kind: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    legacy_app_id: Mapped[str | None] = mapped_column(
        ForeignKey("legacy_apps.id", ondelete="CASCADE"), index=True
    )
    # OAuth2 grants: the client, the granted scope and when the user authenticated.
    client_pk: Mapped[str | None] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str | None] = mapped_column(String(200))
    auth_time: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()
    site: Mapped[Site] = relationship()
    legacy_app: Mapped[LegacyApp | None] = relationship()
    client: Mapped[OAuthClient | None] = relationship()
    tokens: Mapped[list[Token]] = relationship(
        back_populates="grant", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class Token(db.Model):
    """A bearer secret of a grant, kept only as its SHA-256 hash."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    # OAuth2: the scope of this token (a refresh may narrow it), and for a refresh
    # token when it was rotated (used); a rotated one presented again is a replay.
    scope: Mapped[str | None] = mapped_column(String(200))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime)

    grant: Mapped[Grant] = relationship(back_populates="tokens")


class Item(db.Model):
    """The sample resource of the Web API: a site's items."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    created_by_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)

    created_by: Mapped[User] = relationship()


class AuditEvent(db.Model):
    """Grants, refusals, revocations and failed sign-ins (contract §6)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=now)
    event: Mapped[str] = mapped_column(String(50))
    user_id: Mapped[str | None] = mapped_column(GUID)
    site_id: Mapped[str | None] = mapped_column(GUID)
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="{}")


# --- The OAuth2/OIDC face (ELMA365/BRIX style) -----------------------------------

GRANT_OAUTH = "oauth"
TOKEN_ACCESS = "access"
TOKEN_REFRESH = "refresh"


class Module(db.Model):
    """A module of the platform; system administrators give it one external app."""

    __tablename__ = "modules"

    id: Mapped[str] = mapped_column(GUID, primary_key=True, default=new_guid)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    icon: Mapped[bytes | None] = mapped_column(LargeBinary)
    icon_mimetype: Mapped[str | None] = mapped_column(String(50))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)

    external_app: Mapped[ExternalApp | None] = relationship(
        back_populates="module", uselist=False, cascade="all, delete-orphan"
    )


class ExternalApp(db.Model):
    """The one external app of a module: what a user sees on the consent page."""

    __tablename__ = "external_apps"

    id: Mapped[str] = mapped_column(GUID, primary_key=True, default=new_guid)
    module_id: Mapped[str] = mapped_column(ForeignKey("modules.id", ondelete="CASCADE"),
                                           unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # "Use main module data": name, description and icon come from the module.
    use_module_data: Mapped[bool] = mapped_column(Boolean, default=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    icon: Mapped[bytes | None] = mapped_column(LargeBinary)
    icon_mimetype: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)

    module: Mapped[Module] = relationship(back_populates="external_app")
    templates: Mapped[list[ClientTemplate]] = relationship(
        back_populates="external_app", cascade="all, delete-orphan", order_by="ClientTemplate.name"
    )

    @property
    def display_name(self) -> str:
        return self.module.name if self.use_module_data or not self.name else self.name

    @property
    def display_description(self) -> str:
        return self.module.description if self.use_module_data else self.description

    @property
    def display_icon(self) -> tuple[bytes | None, str | None]:
        if self.use_module_data:
            return self.module.icon, self.module.icon_mimetype
        return self.icon, self.icon_mimetype

    @property
    def usable(self) -> bool:
        return self.enabled and self.module.enabled


class ClientTemplate(db.Model):
    """An OAuth2/OIDC client template: a name and its access levels (scopes)."""

    __tablename__ = "client_templates"
    __table_args__ = (Index("uq_client_templates_app_name", "external_app_id", "name",
                            unique=True),)

    id: Mapped[str] = mapped_column(GUID, primary_key=True, default=new_guid)
    external_app_id: Mapped[str] = mapped_column(
        ForeignKey("external_apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # Space-separated, as in an OAuth2 ``scope``.
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)

    external_app: Mapped[ExternalApp] = relationship(back_populates="templates")

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


class OAuthClient(db.Model):
    """An OAuth/OIDC client: ``client_id``, a keyed hash of its secret, redirect URIs."""

    __tablename__ = "oauth_clients"

    id: Mapped[str] = mapped_column(GUID, primary_key=True, default=new_guid)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    # HMAC-SHA-256 of the secret under the server's hash key (hex); None for a
    # public client, which has no secret (RFC 6749 §2.1).
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    # A public client authenticates with ``none`` and must use PKCE (RFC 9700 §2.1.1);
    # a confidential client may be made to use PKCE too.
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    require_pkce: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    template_id: Mapped[str] = mapped_column(ForeignKey("client_templates.id",
                                                        ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # JSON list of exact redirect URIs.
    redirect_uris: Mapped[str] = mapped_column(Text)
    # JSON list of exact post-logout redirect URIs (OpenID RP-Initiated Logout §3).
    post_logout_redirect_uris: Mapped[str] = mapped_column(Text, default="[]",
                                                           server_default="[]")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)

    template: Mapped[ClientTemplate] = relationship()

    @property
    def redirect_uri_list(self) -> list[str]:
        return json.loads(self.redirect_uris)

    @property
    def post_logout_redirect_uri_list(self) -> list[str]:
        return json.loads(self.post_logout_redirect_uris or "[]")

    @property
    def pkce_required(self) -> bool:
        return self.public or self.require_pkce


class Consent(db.Model):
    """What a user allowed a client, remembered so that a later request for the same
    or fewer scopes needs no consent page (OIDC Core §3.1.2.4). One row per user and
    client; its scope is the union of what they allowed."""

    __tablename__ = "oauth_consents"
    __table_args__ = (Index("uq_oauth_consents_user_client", "user_id", "client_pk",
                            unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_pk: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"),
                                           index=True)
    scope: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=now)

    client: Mapped[OAuthClient] = relationship()

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scope.split())


class AuthorizationCode(db.Model):
    """A code of the authorization-code flow: single use, bound to client and redirect URI."""

    __tablename__ = "authorization_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_pk: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"),
                                           index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(String(200))
    nonce: Mapped[str | None] = mapped_column(String(500))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    auth_time: Mapped[datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The grant the first redemption created: revoked if the code is replayed.
    grant_id: Mapped[str | None] = mapped_column(ForeignKey("grants.id", ondelete="SET NULL"))


class RevocationGeneration(db.Model):
    """One row whose ``value`` changes (to a fresh random number) in every transaction
    that may invalidate a cached token validation (``core.revocations``): what the
    workers of a single-host SQLite deployment compare their caches against."""

    __tablename__ = "revocation_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger)
