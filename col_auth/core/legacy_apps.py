"""Apps registered at /developer: AppToken, AppSecret (encrypted), Return URL, icon."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from . import audit
from .clock import now
from .crypto import SecretBox
from .errors import NotFound, PermissionDenied, ValidationError
from .ids import APP_TOKEN_PREFIX, SECRET_KEY_PREFIX, new_guid, parse_guid, strip_prefix
from .models import LegacyApp, User
from .text import check_text
from .urls import split_absolute_url

_ICON_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


NAME_REQUIRED = "Application Name is required (200 characters at most)"


def secret_box() -> SecretBox:
    return current_app.extensions["col_auth.secret_box"]


def check_absolute_url(url: str, field: str) -> str:
    """An absolute http(s) URL with a host and no user info, else ValidationError.

    User info ("https://good.example@evil.example/") is refused because a person
    reading it sees the wrong host.
    """
    url = (url or "").strip()
    split_absolute_url(url, field, "invalid_url")
    return url


def sniff_icon(data: bytes) -> str:
    """The icon's MIME type from its first bytes; PNG, JPEG and GIF only."""
    limit = current_app.config["ICON_MAX_BYTES"]
    if len(data) > limit:
        raise ValidationError(f"the icon must be at most {limit // 1024} KiB", "icon_too_large")
    for signature, mimetype in _ICON_SIGNATURES.items():
        if data.startswith(signature):
            return mimetype
    raise ValidationError("the icon must be a PNG, JPEG or GIF image", "invalid_icon")


def _app_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError(NAME_REQUIRED, "invalid_name")
    return check_text(name, "Application Name", code="invalid_name")


def _new_secret() -> str:
    return SECRET_KEY_PREFIX + new_guid()


def register_app(
    owner: User,
    *,
    name: str,
    return_url: str,
    privacy_url: str | None = None,
    icon: bytes | None = None,
) -> tuple[LegacyApp, str]:
    """Register an app; returns it and its AppSecret, which is never shown again."""
    name = _app_name(name)
    secret = _new_secret()
    app = LegacyApp(
        app_token=new_guid(),
        owner=owner,
        name=name,
        return_url=check_absolute_url(return_url, "Return URL"),
        privacy_url=check_absolute_url(privacy_url, "Privacy URL") if privacy_url else None,
        secret_ciphertext=secret_box().encrypt(secret),
    )
    if icon:
        app.icon_mimetype = sniff_icon(icon)
        app.icon = icon
    db.session.add(app)
    db.session.flush()
    audit.record(audit.APP_REGISTERED, user_id=owner.id, site_id=owner.site_id, app=app.app_token)
    return app, secret


def update_app(
    app: LegacyApp,
    *,
    name: str,
    return_url: str,
    privacy_url: str | None,
    icon: bytes | None = None,
    remove_icon: bool = False,
) -> LegacyApp:
    name = _app_name(name)
    return_url = check_absolute_url(return_url, "Return URL")
    privacy_url = check_absolute_url(privacy_url, "Privacy URL") if privacy_url else None
    mimetype = sniff_icon(icon) if icon else None
    app.name, app.return_url, app.privacy_url = name, return_url, privacy_url
    if icon:
        app.icon, app.icon_mimetype = icon, mimetype
    elif remove_icon:
        app.icon, app.icon_mimetype = None, None
    app.updated_at = now()
    audit.record(audit.APP_UPDATED, user_id=app.owner_id, site_id=app.owner.site_id,
                 app=app.app_token)
    return app


def regenerate_secret(app: LegacyApp) -> str:
    """A new AppSecret; packets signed with the old one stop verifying at once."""
    secret = _new_secret()
    app.secret_ciphertext = secret_box().encrypt(secret)
    app.updated_at = now()
    audit.record(
        audit.APP_SECRET_REGENERATED, user_id=app.owner_id, site_id=app.owner.site_id,
        app=app.app_token,
    )
    return secret


def delete_app(app: LegacyApp) -> None:
    """Delete the app and, with it, every grant and token it was given."""
    audit.record(
        audit.APP_DELETED, user_id=app.owner_id, site_id=app.owner.site_id,
        app=app.app_token, name=app.name,
    )
    from .grants import delete_grants_of_legacy_app

    delete_grants_of_legacy_app(app)
    db.session.delete(app)


def app_secret(app: LegacyApp) -> str:
    return secret_box().decrypt(app.secret_ciphertext)


def parse_app_token(text: str | None) -> str | None:
    """The AppToken GUID from a bare GUID or ``{AppToken}GUID``, else None."""
    if not text:
        return None
    return parse_guid(strip_prefix(text.strip(), APP_TOKEN_PREFIX))


def find_app(text: str | None) -> LegacyApp | None:
    app_token = parse_app_token(text)
    if app_token is None:
        return None
    return db.session.scalar(select(LegacyApp).where(LegacyApp.app_token == app_token))


def apps_of(owner: User) -> list[LegacyApp]:
    return list(
        db.session.scalars(
            select(LegacyApp).where(LegacyApp.owner_id == owner.id).order_by(LegacyApp.created_at)
        )
    )


def owned_app(owner: User, app_token: str) -> LegacyApp:
    """The owner's app with this AppToken; NotFound or PermissionDenied otherwise."""
    app = find_app(app_token)
    if app is None:
        raise NotFound("no such app", "unknown_app")
    if app.owner_id != owner.id:
        raise PermissionDenied("this app belongs to someone else", "not_owner")
    return app
