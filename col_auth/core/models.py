"""Tables of the grant store, shared by both protocol faces.

Timestamps are naive UTC (see ``clock``). Secrets never appear here in clear:
tokens are SHA-256 hashes, AppSecrets are Fernet ciphertext.
"""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
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
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()
    site: Mapped[Site] = relationship()
    legacy_app: Mapped[LegacyApp | None] = relationship()
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
