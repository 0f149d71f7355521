"""Every length a validator lets through fits its column (issue 9, finding 5: the
authorization request allowed a 2000-character ``nonce`` that the 500-character
column refused, a 500 at "Allow" on PostgreSQL; SQLite stores it anyway).

The test walks every ``String`` column with a length in the models. Each is either
fed through the validator of the input that fills it, once at exactly its length
(accepted and stored, flushed to the database) and once one character longer
(refused), or listed with why no input reaches it; a new column must be one of the
two.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import String
from werkzeug.security import generate_password_hash

from col_auth.core import accounts, audit, items, legacy_apps, oauth_clients, rfc7636, scopes
from col_auth.core.crypto import token_hash
from col_auth.core.errors import CoreError, ValidationError
from col_auth.core.icons import _SIGNATURES
from col_auth.core.ids import new_guid
from col_auth.core.models import (
    GRANT_OAUTH,
    GRANT_SITE_TOKEN,
    GRANT_USER_TOKEN,
    ROLE_MEMBER,
    ROLE_SITE_ADMIN,
    TOKEN_ACCESS,
    TOKEN_REFRESH,
)
from col_auth.extensions import db
from col_auth.oauth import authorize


def _url(length: int) -> str:
    """An acceptable https URL of exactly ``length`` characters."""
    head = "https://client.example/"
    return head + "p" * (length - len(head))


def _unique(length: int) -> str:
    """``length`` characters, different each time (for unique columns)."""
    tag = uuid.uuid4().hex
    return (tag + "x" * length)[:length]


class World:
    """What the probes need around the value they try: a site, a user, a module."""

    def __init__(self) -> None:
        self.site = accounts.create_site(_unique(20))
        self.user = accounts.create_user(_unique(20), site=self.site, password="pw")
        self.module = oauth_clients.create_module(_unique(20))
        self.external_app = oauth_clients.ensure_external_app_enabled(self.module)
        self.template = oauth_clients.create_template(self.external_app, _unique(20), "api")


def _challenge(value: str) -> str:
    if not rfc7636.is_valid_challenge(value):
        raise ValidationError("invalid_request", "code_challenge is malformed")
    return value


@dataclass(frozen=True)
class Probe:
    """``fill(world, text)`` passes ``text`` through the validator of the input
    that fills the column (and stores what it accepts); ``text(length)`` builds a
    value of that many characters."""

    fill: Callable[[World, str], object]
    text: Callable[[int], str] = _unique
    # False where a value of the column's length need not be accepted (only what is
    # accepted must fit): a derived key, a fixed-length challenge.
    exact: bool = True


VALIDATED: dict[str, Probe] = {
    "sites.name": Probe(lambda w, v: accounts.create_site(v)),
    "users.username": Probe(lambda w, v: accounts.create_user(v, site=w.site, password="pw")),
    # Lower-casing may lengthen a name ("ß" → "ss" by casefold): the key must fit too.
    "users.username_key": Probe(lambda w, v: accounts.create_user(v, site=w.site,
                                                                  password="pw"),
                                text=lambda n: "\u00df" * n, exact=False),
    "users.full_name": Probe(lambda w, v: accounts.create_user(
        _unique(20), site=w.site, password="pw", full_name=v)),
    "users.email": Probe(lambda w, v: accounts.create_user(
        _unique(20), site=w.site, password="pw", email=v)),
    # The optional profile details (/profile/details, ``create-user --given-name`` …):
    # both go through the checks of ``accounts.update_details``.
    "users.given_name": Probe(lambda w, v: accounts.update_details(w.user, given_name=v)),
    "users.family_name": Probe(lambda w, v: accounts.update_details(w.user, family_name=v)),
    "users.phone_number": Probe(lambda w, v: accounts.update_details(w.user, phone_number=v),
                                text=lambda n: "1" * n),
    "legacy_apps.name": Probe(lambda w, v: legacy_apps.register_app(
        w.user, name=v, return_url="https://app.example/cb")),
    "legacy_apps.return_url": Probe(lambda w, v: legacy_apps.register_app(
        w.user, name="App", return_url=v), text=_url),
    "legacy_apps.privacy_url": Probe(lambda w, v: legacy_apps.register_app(
        w.user, name="App", return_url="https://app.example/cb", privacy_url=v), text=_url),
    "items.title": Probe(lambda w, v: items.create_item(w.user, {"title": v})),
    "modules.name": Probe(lambda w, v: oauth_clients.create_module(v)),
    "external_apps.name": Probe(lambda w, v: oauth_clients.configure_external_app(
        w.external_app, enabled=True, use_module_data=False, name=v)),
    "client_templates.name": Probe(lambda w, v: oauth_clients.create_template(
        w.external_app, v, "api")),
    "oauth_clients.name": Probe(lambda w, v: oauth_clients.create_client(
        w.template, name=v, redirect_uris=["https://client.example/cb"])),
    # A code's redirect URI is one of its client's, each checked at registration.
    "authorization_codes.redirect_uri": Probe(lambda w, v: oauth_clients.create_client(
        w.template, name="C", redirect_uris=[v]), text=_url),
    # The authorization request's parameters (authorize.py) that are stored with the code.
    "authorization_codes.nonce": Probe(lambda w, v: authorize.check_lengths({"nonce": v})),
    "authorization_codes.code_challenge": Probe(lambda w, v: _challenge(v),
                                                text=lambda n: "A" * n, exact=False),
}

# Checks that a validator exists but lives where a later change must land; strict, so
# the entry has to go once the validator is there.
NOT_YET: dict[str, str] = {}


def _longest(values) -> int:
    return max(len(v) for v in values)


_SCOPES = len(" ".join(scopes.SUPPORTED))
_GUID = len(new_guid())
_SHA256_HEX = len(token_hash("any token"))

# Columns no input fills as it came: why, and the longest the server writes there.
NOT_FROM_INPUT: dict[str, tuple[str, Callable[[], int]]] = {
    "users.role": ("one of the ROLE_* names",
                   lambda: _longest([ROLE_MEMBER, ROLE_SITE_ADMIN])),
    "users.password_hash": ("werkzeug's hash of the password, whatever its length",
                            lambda: len(generate_password_hash("x" * 1000))),
    "legacy_apps.icon_mimetype": ("what sniff_icon read from the bytes",
                                  lambda: _longest(_SIGNATURES.values())),
    "modules.icon_mimetype": ("what sniff_icon read from the bytes",
                              lambda: _longest(_SIGNATURES.values())),
    "external_apps.icon_mimetype": ("what sniff_icon read from the bytes",
                                    lambda: _longest(_SIGNATURES.values())),
    "grants.kind": ("one of the GRANT_* kinds",
                    lambda: _longest([GRANT_USER_TOKEN, GRANT_SITE_TOKEN, GRANT_OAUTH])),
    "tokens.kind": ("one of the token kinds",
                    lambda: _longest([GRANT_USER_TOKEN, GRANT_SITE_TOKEN, TOKEN_ACCESS,
                                      TOKEN_REFRESH])),
    "grants.scope": ("scope_string() of the supported scopes", lambda: _SCOPES),
    "tokens.scope": ("scope_string() of the supported scopes", lambda: _SCOPES),
    "authorization_codes.scope": ("scope_string() of the supported scopes", lambda: _SCOPES),
    "oauth_consents.scope": ("scope_string() of the supported scopes", lambda: _SCOPES),
    "client_templates.scopes": ("scope_string() of the supported scopes", lambda: _SCOPES),
    "tokens.token_hash": ("SHA-256 in hex", lambda: _SHA256_HEX),
    "login_sessions.id_hash": ("SHA-256 in hex of the session id", lambda: _SHA256_HEX),
    "authorization_codes.code_hash": ("SHA-256 in hex", lambda: _SHA256_HEX),
    "oauth_clients.secret_hash": ("HMAC-SHA-256 in hex", lambda: _SHA256_HEX),
    "oauth_clients.client_id": ("a GUID the server makes", lambda: _GUID),
    "audit_events.event": ("one of the event names in core.audit",
                           lambda: _longest(v for k, v in vars(audit).items()
                                            if k.isupper() and isinstance(v, str))),
    # The peer's address, or (PROXY_FIX_HOPS) the one the trusted proxy appended.
    "audit_events.ip": ("request.remote_addr: an IP address", lambda: 45),
}


def _string_columns() -> dict[str, int]:
    return {f"{table.name}.{column.name}": column.type.length
            for table in db.metadata.sorted_tables for column in table.columns
            if isinstance(column.type, String) and column.type.length}


def _is_guid(name: str, length: int) -> bool:
    """Keys and references: GUIDs the server generates (``new_guid``)."""
    column = name.split(".", 1)[1]
    return length == _GUID and (column == "id" or column.endswith("_id")
                                or column in ("app_token", "client_pk"))


def test_every_string_column_is_validated_or_says_why_not():
    columns = {n: length for n, length in _string_columns().items() if not _is_guid(n, length)}
    unexplained = sorted(set(columns) - set(VALIDATED) - set(NOT_FROM_INPUT))
    assert not unexplained, f"columns no validator or reason accounts for: {unexplained}"
    stale = sorted((set(VALIDATED) | set(NOT_FROM_INPUT)) - set(columns))
    assert not stale, f"listed columns that do not exist (or are GUIDs): {stale}"
    for name, (_, longest) in NOT_FROM_INPUT.items():
        assert longest() <= columns[name], (name, longest(), columns[name])


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=NOT_YET[name]))
    if name in NOT_YET else name for name in sorted(VALIDATED)])
def test_validator_allows_exactly_what_the_column_holds(app, name):
    length = _string_columns()[name]
    probe = VALIDATED[name]
    with app.app_context():
        try:
            world = World()
            try:
                probe.fill(world, probe.text(length))
                db.session.flush()  # PostgreSQL refuses here what does not fit
            except CoreError:
                if probe.exact:
                    raise
            with pytest.raises(CoreError):
                probe.fill(world, probe.text(length + 1))
                db.session.flush()
        finally:
            db.session.rollback()
