"""Sites and users: creating them, checking a password, and the sessions a sign-in
starts (ended on the server, so a kept cookie opens nothing)."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

import precis_i18n
from flask import current_app
from sqlalchemy import delete, select
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from . import audit, oauth_tokens
from .clock import now
from .crypto import token_hash
from .errors import Conflict, NotFound, ValidationError
from .models import ROLE_MEMBER, ROLE_SITE_ADMIN, LoginSession, Site, User
from .text import check_length, check_text, is_storable

# A hash to check against when the username is unknown, so that a failed
# sign-in takes as long whether or not the user exists.
_DUMMY_HASH = generate_password_hash("not a password")
MAX_USERNAME_LENGTH = 150
MAX_PASSWORD_LENGTH = 1000
# The address column is text; a postal address is a few lines, and no more is kept.
MAX_ADDRESS_LENGTH = 500
# A telephone number as people write one ("+1 (425) 555-1212", "030 1234567 ext. 12"),
# not only E.164: OIDC Core §5.1 only recommends E.164 for ``phone_number``.
_PHONE = re.compile(r"\+?[0-9 ()./-]+(?:\s*(?:;ext=|ext\.?|x)\s*[0-9]+)?", re.ASCII)

# RFC 8265 §3.3: width-mapped, mapped to lower case, NFC; spaces, control,
# invisible (default-ignorable) and most symbol characters are refused. Two names
# that look alike therefore have the same key, or one of them is no name at all.
_USERNAME_PROFILE = precis_i18n.get_profile("UsernameCaseMapped")
# Only ASCII white space is trimmed: the rest (U+2028, U+3000, ...) is refused.
_PASTED_SPACE = " \t\r\n"


def username_key(username: str) -> str:
    """The form usernames are compared in (contract §2: case-insensitively), as RFC
    8265's UsernameCaseMapped profile enforces it; surrounding white space is
    dropped first, as people paste it. Raises ``ValidationError`` for a string that
    is no username."""
    username = username.strip(_PASTED_SPACE)
    wrong_length = ValidationError("invalid_username",
                                   f"a username has 1 to {MAX_USERNAME_LENGTH} characters")
    # Checked before the profile runs, whose cost grows with the input, and after it,
    # as lower-casing may lengthen a string.
    if not username or len(username) > MAX_USERNAME_LENGTH:
        raise wrong_length
    try:
        key = _USERNAME_PROFILE.enforce(username)
    except UnicodeError:
        raise ValidationError(
            "invalid_username",
            "a username may not contain spaces, control or invisible characters") from None
    if len(key) > MAX_USERNAME_LENGTH:
        raise wrong_length
    if ":" in key:
        # A colon would make "Basic base64(username:token)" ambiguous (RFC 7617 §2).
        raise ValidationError("invalid_username", "a username may not contain a colon")
    return key


def login_name_key(username: str) -> str | None:
    """``username_key``, or None for input that can name nobody (looked up nowhere)."""
    try:
        return username_key(username)
    except ValidationError:
        return None


def create_site(name: str) -> Site:
    name = check_length(name.strip(), "the site name", Site.name.type.length,
                        code="invalid_name", required=True)
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
    given_name: str = "",
    family_name: str = "",
    phone_number: str = "",
    address: str = "",
) -> User:
    username = username.strip(_PASTED_SPACE)
    key = username_key(username)
    _check_new_password(password)
    if db.session.scalar(select(User).where(User.username_key == key)):
        raise Conflict("username_taken", f"the username {username!r} is taken")
    user = User(
        username=username,
        username_key=key,
        full_name=check_length(full_name.strip(), "the full name",
                               User.full_name.type.length, code="invalid_name") or username,
        email=check_length(email.strip(), "the email", User.email.type.length,
                           code="invalid_email"),
        site=site,
        role=ROLE_SITE_ADMIN if site_admin else ROLE_MEMBER,
        is_system_admin=system_admin,
        password_hash=_hash_password(password),
        **_details(given_name=given_name, family_name=family_name,
                   phone_number=phone_number, address=address),
    )
    db.session.add(user)
    db.session.flush()
    return user


# --- the optional profile details (OpenID claims, OIDC Core §5.1) ----------------------


def _name_part(value: str, label: str, column) -> str:
    return check_length(value.strip(), label, column.type.length,
                        code="invalid_" + column.key)


def _phone_number(value: str) -> str:
    value = check_length(value.strip(), "the phone number", User.phone_number.type.length,
                         code="invalid_phone_number")
    if value and (not _PHONE.fullmatch(value) or sum(c.isdigit() for c in value) < 3):
        raise ValidationError("invalid_phone_number",
                              "a phone number has digits, spaces and + ( ) - . / only, "
                              "such as +1 (425) 555-1212")
    return value


def _address(value: str) -> str:
    """The ``formatted`` address (§5.1.1): lines kept, each trimmed, joined by "\n"
    (the claim allows "\r\n" or "\n"; a browser's textarea sends "\r\n")."""
    check_text(value, "the address", code="invalid_address", multiline=True)
    lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    value = "\n".join(line.strip() for line in lines).strip()
    if len(value) > MAX_ADDRESS_LENGTH:
        raise ValidationError("invalid_address",
                              f"the address has at most {MAX_ADDRESS_LENGTH} characters")
    return value


def _details(**values: str | None) -> dict[str, str]:
    """The checked value of each detail given (None: not given). Each error's code is
    ``invalid_`` and the field's name, so a form can show it beside the field."""
    checks = {
        "given_name": lambda v: _name_part(v, "the given name", User.given_name),
        "family_name": lambda v: _name_part(v, "the family name", User.family_name),
        "phone_number": _phone_number,
        "address": _address,
    }
    return {name: checks[name](value) for name, value in values.items() if value is not None}


def update_details(user: User, *, given_name: str | None = None,
                   family_name: str | None = None, phone_number: str | None = None,
                   address: str | None = None) -> bool:
    """Set the details given (None leaves one as it is; "" clears it); whether any
    changed. A change moves ``updated_at``, the ``updated_at`` claim (§5.1)."""
    checked = _details(given_name=given_name, family_name=family_name,
                       phone_number=phone_number, address=address)
    changed = {name: value for name, value in checked.items() if getattr(user, name) != value}
    for name, value in changed.items():
        setattr(user, name, value)
    if changed:
        user.updated_at = now()
        db.session.flush()
    return bool(changed)


def _check_new_password(password: str) -> None:
    if not password:
        raise ValidationError("invalid_password", "a password is required")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError("invalid_password",
                              f"a password has at most {MAX_PASSWORD_LENGTH} characters")


def _hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def find_user(username: str) -> User | None:
    """The user with this username (compared as ``username_key`` does), else None; a
    value no username can be is looked up nowhere."""
    key = login_name_key(username)
    if key is None:
        return None
    return db.session.scalar(select(User).where(User.username_key == key))


def get_user_by_username(username: str) -> User:
    user = find_user(username)
    if user is None:
        raise NotFound("unknown_user", f"no user named {username!r}")
    return user


def authenticate(username: str, password: str) -> User | None:
    """The active user with this username and password, else None."""
    user = find_user(username)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def set_password(user: User, password: str, *, by: User | None = None,
                 ip: str | None = None) -> int:
    """Give ``user`` a new password and end every session of theirs (whoever knew the
    old one is signed out); the number of sessions ended."""
    _check_new_password(password)
    user.password_hash = _hash_password(password)
    ended = end_sessions_of(user)
    audit.record(audit.PASSWORD_CHANGED, user_id=user.id, site_id=user.site_id, ip=ip,
                 by=by.id if by else None, sessions_ended=ended)
    return ended


def set_active(user: User, active: bool, *, by: User | None = None) -> None:
    """Activate or deactivate ``user``. Deactivation ends every session and voids
    every pending authorization code; tokens stop at once because validation
    checks the user (``principals``)."""
    user.active = active
    if not active:
        end_sessions_of(user)
        oauth_tokens.void_codes_of_user(user)
    audit.record(audit.USER_ACTIVATED if active else audit.USER_DEACTIVATED,
                 user_id=user.id, site_id=user.site_id, by=by.id if by else None)
    db.session.flush()


# --- sessions: started by a sign-in, ended on the server --------------------------------


def session_id_hash(session_id: str) -> str:
    """What is stored of a session id: its hash, as for tokens, so that a copy of
    the database holds no id a cookie could carry."""
    return token_hash(session_id)


def start_session(user: User) -> str:
    """A new session of ``user``, lasting ``SESSION_LIFETIME`` seconds; its id, to be
    kept in the (signed) session cookie."""
    session_id = secrets.token_urlsafe(32)
    started = now()
    db.session.add(LoginSession(
        id_hash=session_id_hash(session_id), user_id=user.id, created_at=started,
        expires_at=started + timedelta(seconds=current_app.config["SESSION_LIFETIME"])))
    db.session.flush()
    return session_id


def session_user(session_id: str | None) -> User | None:
    """The active user of a live session, else None (ended, expired, unknown)."""
    if not session_id or not isinstance(session_id, str) or len(session_id) > 100:
        return None
    return db.session.scalar(
        select(User).join(LoginSession, LoginSession.user_id == User.id)
        .where(LoginSession.id_hash == session_id_hash(session_id),
               LoginSession.expires_at > now(), User.active.is_(True)))


def end_session(session_id: str | None) -> None:
    if session_id and isinstance(session_id, str):
        db.session.execute(delete(LoginSession)
                           .where(LoginSession.id_hash == session_id_hash(session_id)))


def end_sessions_of(user: User) -> int:
    """End every session of ``user`` ("Sign out everywhere"); how many there were."""
    result = db.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    return result.rowcount or 0


def site_users(site_id: str) -> list[User]:
    return list(
        db.session.scalars(
            select(User).where(User.site_id == site_id, User.active.is_(True))
            .order_by(User.username_key)
        )
    )
