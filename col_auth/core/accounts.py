"""Sites and users: creating them and checking a password."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .errors import Conflict, NotFound, ValidationError
from .models import ROLE_MEMBER, ROLE_SITE_ADMIN, Site, User
from .text import check_text, is_storable

# A hash to check against when the username is unknown, so that a failed
# sign-in takes as long whether or not the user exists.
_DUMMY_HASH = generate_password_hash("not a password")
MAX_USERNAME_LENGTH = 150


def username_key(username: str) -> str:
    """Usernames compare case-insensitively (contract §2)."""
    return username.strip().casefold()


def create_site(name: str) -> Site:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationError("invalid_name", "a site needs a name (200 characters at most)")
    check_text(name, "the site name", code="invalid_name")
    if db.session.scalar(select(Site).where(Site.name == name)):
        raise Conflict("site_exists", f"a site named {name!r} exists already")
    site = Site(name=name)
    db.session.add(site)
    db.session.flush()
    return site


def get_site_by_name(name: str) -> Site:
    site = None
    if is_storable(name):
        site = db.session.scalar(select(Site).where(Site.name == name.strip()))
    if site is None:
        raise NotFound("unknown_site", f"no site named {name!r}")
    return site


def create_user(
    username: str,
    *,
    site: Site,
    password: str,
    full_name: str = "",
    email: str = "",
    site_admin: bool = False,
    system_admin: bool = False,
) -> User:
    username = username.strip()
    if (not username or ":" in username or not is_storable(username)
            or len(username) > MAX_USERNAME_LENGTH):
        # A colon would make "Basic base64(username:token)" ambiguous.
        raise ValidationError("invalid_username", "a username must be non-empty and have no colon")
    if not password:
        raise ValidationError("invalid_password", "a password is required")
    key = username_key(username)
    if db.session.scalar(select(User).where(User.username_key == key)):
        raise Conflict("username_taken", f"the username {username!r} is taken")
    user = User(
        username=username,
        username_key=key,
        full_name=check_text(full_name.strip(), "full name", code="invalid_name") or username,
        email=check_text(email.strip(), "email", code="invalid_email"),
        site=site,
        role=ROLE_SITE_ADMIN if site_admin else ROLE_MEMBER,
        is_system_admin=system_admin,
        password_hash=generate_password_hash(
            password, method=current_app.config["PASSWORD_HASH_METHOD"]
        ),
    )
    db.session.add(user)
    db.session.flush()
    return user


def find_user(username: str) -> User | None:
    """The user with this username (compared case-insensitively), else None; a value
    no username can be (too long, control characters) is looked up nowhere."""
    key = username_key(username)
    if not key or len(key) > MAX_USERNAME_LENGTH or not is_storable(key):
        return None
    return db.session.scalar(select(User).where(User.username_key == key))


def authenticate(username: str, password: str) -> User | None:
    """The active user with this username and password, else None."""
    user = find_user(username)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def site_users(site_id: str) -> list[User]:
    return list(
        db.session.scalars(
            select(User).where(User.site_id == site_id, User.active.is_(True))
            .order_by(User.username_key)
        )
    )
