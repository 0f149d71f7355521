"""Apps registered at /developer: AppToken, AppSecret (encrypted), Return URL, icon."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from . import audit
from .clock import now
from .crypto import SecretBox
from .errors import NotFound, PermissionDenied, ValidationError
from .grants import delete_grants_of_legacy_app
from .icons import sniff_icon
from .ids import APP_TOKEN_PREFIX, SECRET_KEY_PREFIX, new_guid, parse_guid, strip_prefix
from .models import LegacyApp, User
from .text import check_length
from .urls import split_absolute_url

MAX_NAME_LENGTH = LegacyApp.name.type.length


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


def returnable_url(legacy_app: LegacyApp) -> str:
    """The app's Return URL, if it still passes the checks of registration; else a
    ``ValidationError``: a URL stored before a rule it breaks (a host not in ASCII)
    is never redirected to."""
    try:
        return check_absolute_url(legacy_app.return_url, "Return URL")
    except ValidationError as exc:
        raise ValidationError(
            "invalid_return_url",
            f"This app's Return URL is no longer accepted: {exc.message}. Nothing was "
            "sent; the app's owner must change it at /developer.") from None


def _app_name(name: str | None) -> str:
    return check_length((name or "").strip(), "Application Name", MAX_NAME_LENGTH,
                        code="invalid_name", required=True)


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
    """Register a legacy app; returns it and its AppSecret, which is never shown again."""
    name = _app_name(name)
    secret = _new_secret()
    legacy_app = LegacyApp(
        app_token=new_guid(),
        owner=owner,
        name=name,
        return_url=check_absolute_url(return_url, "Return URL"),
        privacy_url=check_absolute_url(privacy_url, "Privacy URL") if privacy_url else None,
        secret_ciphertext=secret_box().encrypt(secret),
    )
    if icon:
        legacy_app.icon_mimetype = sniff_icon(icon)
        legacy_app.icon = icon
    db.session.add(legacy_app)
    db.session.flush()
    audit.record(audit.APP_REGISTERED, user_id=owner.id, site_id=owner.site_id,
                 app=legacy_app.app_token)
    return legacy_app, secret


def update_app(
    legacy_app: LegacyApp,
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
    legacy_app.name, legacy_app.return_url, legacy_app.privacy_url = name, return_url, privacy_url
    if icon:
        legacy_app.icon, legacy_app.icon_mimetype = icon, mimetype
    elif remove_icon:
        legacy_app.icon, legacy_app.icon_mimetype = None, None
    legacy_app.updated_at = now()
    audit.record(audit.APP_UPDATED, user_id=legacy_app.owner_id,
                 site_id=legacy_app.owner.site_id, app=legacy_app.app_token)
    return legacy_app


def regenerate_secret(legacy_app: LegacyApp) -> str:
    """A new AppSecret; packets signed with the old one stop verifying at once."""
    secret = _new_secret()
    legacy_app.secret_ciphertext = secret_box().encrypt(secret)
    legacy_app.updated_at = now()
    audit.record(
        audit.APP_SECRET_REGENERATED, user_id=legacy_app.owner_id,
        site_id=legacy_app.owner.site_id,
        app=legacy_app.app_token,
    )
    return secret


def delete_app(legacy_app: LegacyApp) -> None:
    """Delete the app and, with it, every grant and token it was given."""
    audit.record(
        audit.APP_DELETED, user_id=legacy_app.owner_id, site_id=legacy_app.owner.site_id,
        app=legacy_app.app_token, name=legacy_app.name,
    )
    delete_grants_of_legacy_app(legacy_app)
    db.session.delete(legacy_app)


def app_secret(legacy_app: LegacyApp) -> str:
    return secret_box().decrypt(legacy_app.secret_ciphertext)


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
    legacy_app = find_app(app_token)
    if legacy_app is None:
        raise NotFound("unknown_app", "no such app")
    if legacy_app.owner_id != owner.id:
        raise PermissionDenied("not_owner", "this app belongs to someone else")
    return legacy_app


def reencrypt_secrets() -> int:
    """Re-encrypt every AppSecret under the newest of ``ENCRYPTION_KEYS`` (after a new
    key was put in front), so the old key can then be removed. Returns how many.
    A secret none of the keys decrypts is a ``ValidationError`` naming its app
    (the caller's rollback then keeps every secret as it was)."""
    box = secret_box()
    count = 0
    for legacy_app in db.session.scalars(select(LegacyApp).order_by(LegacyApp.id)):
        try:
            legacy_app.secret_ciphertext = box.rotate(legacy_app.secret_ciphertext)
        except ValueError as exc:
            raise ValidationError(
                "undecryptable_secret",
                f"the AppSecret of app {legacy_app.app_token} cannot be decrypted with "
                "ENCRYPTION_KEYS: add the key it was written with") from exc
        count += 1
    return count
