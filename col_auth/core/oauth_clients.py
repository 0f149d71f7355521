"""Modules, their external apps, client templates and OAuth/OIDC clients.

What system administrators manage; the OAuth2 face reads it. Turning a module
or its external app off, deleting a client, or a client expiring stops every
token and every pending authorization code of it: the first three revoke the
grants and void the codes at once, expiry is enforced because no code or token
ever outlives its client (see ``oauth_tokens``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from . import audit
from .clock import now
from .errors import Conflict, NotFound, ValidationError
from .grants import revoke_grants_where, void_codes_where
from .icons import sniff_icon
from .ids import new_guid, parse_guid
from .models import (
    GRANT_OAUTH,
    AuthorizationCode,
    ClientTemplate,
    ExternalApp,
    Grant,
    Module,
    OAuthClient,
    User,
)
from .text import check_length, check_text, is_storable
from .urls import split_absolute_url

# The access levels a template may grant (contract §5).
SCOPE_OPENID = "openid"
SCOPE_API = "api"
SUPPORTED_SCOPES = (SCOPE_OPENID, SCOPE_API)
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
MAX_REDIRECT_URIS = 20


def _name(value: str | None, what: str) -> str:
    # Every name column here (modules, external apps, templates, clients) holds 200.
    return check_length((value or "").strip(), what, Module.name.type.length,
                        code="invalid_name", required=True)


# --- modules and external apps ----------------------------------------------------


def create_module(name: str, description: str = "", icon: bytes | None = None) -> Module:
    name = _name(name, "Name")
    if db.session.scalar(select(Module).where(Module.name == name)):
        raise Conflict("module_exists", f"a module named {name!r} exists already")
    description = check_text((description or "").strip(), "Description",
                             code="invalid_description", multiline=True)
    module = Module(name=name, description=description)
    if icon:
        module.icon_mimetype, module.icon = sniff_icon(icon), icon
    module.external_app = ExternalApp()
    db.session.add(module)
    db.session.flush()
    return module


def get_module(module_id: str) -> Module:
    guid = parse_guid(module_id)
    module = db.session.get(Module, guid) if guid else None
    if module is None:
        raise NotFound("unknown_module", "no such module")
    return module


def get_module_by_name(name: str) -> Module:
    module = None
    if is_storable(name):
        module = db.session.scalar(select(Module).where(Module.name == name.strip()))
    if module is None:
        raise NotFound("unknown_module", f"no module named {name!r}")
    return module


def all_modules() -> list[Module]:
    return list(db.session.scalars(select(Module).order_by(Module.name)))


def set_module_enabled(module: Module, enabled: bool, by: User | None = None) -> None:
    """Disabling a module stops every token and pending code of every client of its
    external app."""
    if module.enabled != enabled:
        audit.record(audit.MODULE_ENABLED if enabled else audit.MODULE_DISABLED,
                     user_id=by.id if by else None, module=module.name)
    module.enabled = enabled
    if not enabled:
        _stop_external_app(module.external_app, by, reason="module_disabled")


def configure_external_app(
    external_app: ExternalApp,
    *,
    enabled: bool,
    use_module_data: bool = True,
    name: str = "",
    description: str = "",
    icon: bytes | None = None,
    by: User | None = None,
) -> ExternalApp:
    """The "External App" tab: enable it, and its own name/description/icon if
    "Use main module data" is unchecked."""
    if not use_module_data:
        external_app.name = _name(name, "Name")
        external_app.description = check_text((description or "").strip(), "Description",
                                     code="invalid_description", multiline=True)
        if icon:
            external_app.icon_mimetype, external_app.icon = sniff_icon(icon), icon
    external_app.use_module_data = use_module_data
    was_enabled = external_app.enabled
    if was_enabled != enabled:
        audit.record(audit.EXTERNAL_APP_ENABLED if enabled else audit.EXTERNAL_APP_DISABLED,
                     user_id=by.id if by else None, module=external_app.module.name)
    external_app.enabled = enabled
    if was_enabled and not enabled:
        _stop_external_app(external_app, by, reason="external_app_disabled")
    return external_app


def ensure_external_app_enabled(module: Module) -> ExternalApp:
    external_app = module.external_app or ExternalApp(module=module)
    external_app.enabled = True
    db.session.add(external_app)
    return external_app


# --- templates --------------------------------------------------------------------


def parse_scopes(scopes: str | list[str] | tuple[str, ...] | None) -> frozenset[str]:
    """A set of supported scopes from a space-separated string or a list."""
    items = scopes.split() if isinstance(scopes, str) else list(scopes or [])
    unknown = sorted(set(items) - set(SUPPORTED_SCOPES))
    if unknown:
        raise ValidationError("invalid_scope", f"unknown access level(s): {', '.join(unknown)}")
    return frozenset(items)


def scope_string(scopes) -> str:
    """Scopes in the one canonical order, space-separated."""
    return " ".join(s for s in SUPPORTED_SCOPES if s in set(scopes))


def create_template(external_app: ExternalApp, name: str, scopes) -> ClientTemplate:
    name = _name(name, "Name")
    chosen = parse_scopes(scopes)
    if not chosen:
        raise ValidationError("invalid_scope", "choose at least one access level")
    if any(t.name == name for t in external_app.templates):
        raise Conflict("template_exists", f"a template named {name!r} exists already")
    template = ClientTemplate(external_app=external_app, name=name,
                              scopes=scope_string(chosen))
    db.session.add(template)
    db.session.flush()
    return template


def get_template(external_app: ExternalApp, template_id: str) -> ClientTemplate:
    for template in external_app.templates:
        if template.id == template_id:
            return template
    raise NotFound("unknown_template", "no such template")


def find_or_create_template(external_app: ExternalApp, name: str, scopes) -> ClientTemplate:
    for template in external_app.templates:
        if template.name == name.strip():
            return template
    return create_template(external_app, name, scopes)


# --- clients ----------------------------------------------------------------------


def hash_client_secret(secret: str) -> str:
    """HMAC-SHA-256 under the server's hash key: secrets are random and high-entropy,
    so a slow password hash would only slow the token endpoint down."""
    key = current_app.config["CLIENT_SECRET_HASH_KEY"].encode("utf-8")
    return hmac.new(key, secret.encode("utf-8"), hashlib.sha256).hexdigest()


def check_redirect_uri(uri: str) -> str:
    """A redirect URI fit to register (RFC 6749 §3.1.2, RFC 9700 §2.1 and §4.1).

    Absolute, no fragment, no user info; https, or http on a loopback host only.
    """
    uri = (uri or "").strip()
    parts = split_absolute_url(uri, "Redirect URI", "invalid_redirect_uri")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValidationError("invalid_redirect_uri",
                              f"{uri!r}: http is allowed only for localhost")
    if parts.fragment or "#" in uri:
        raise ValidationError("invalid_redirect_uri", f"{uri!r} must not have a fragment")
    return uri


def create_client(
    template: ClientTemplate,
    *,
    name: str,
    redirect_uris: list[str],
    expires_days: int | None = None,
    by: User | None = None,
) -> tuple[OAuthClient, str]:
    """A client of the template; returns it and its ``client_secret`` (shown once)."""
    name = _name(name, "Name")
    uris = [check_redirect_uri(u) for u in redirect_uris if (u or "").strip()]
    if not uris:
        raise ValidationError("invalid_redirect_uri", "at least one Redirect URI is required")
    if len(uris) > MAX_REDIRECT_URIS:
        raise ValidationError("invalid_redirect_uri",
                              f"at most {MAX_REDIRECT_URIS} redirect URIs")
    expires_at: datetime | None = None
    if expires_days is not None:
        if not 1 <= int(expires_days) <= 36500:
            raise ValidationError("invalid_expires", "Expires must be between 1 and 36500 days")
        expires_at = now() + timedelta(days=int(expires_days))
    secret = secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id=new_guid().lower(),
        secret_hash=hash_client_secret(secret),
        template=template,
        name=name,
        redirect_uris=json.dumps(list(dict.fromkeys(uris))),
        expires_at=expires_at,
    )
    db.session.add(client)
    db.session.flush()
    audit.record(audit.CLIENT_CREATED, user_id=by.id if by else None,
                 client_id=client.client_id, template=template.name)
    return client, secret


def clients_of(external_app: ExternalApp) -> list[OAuthClient]:
    template_ids = [t.id for t in external_app.templates]
    if not template_ids:
        return []
    return list(db.session.scalars(
        select(OAuthClient).where(OAuthClient.template_id.in_(template_ids))
        .order_by(OAuthClient.created_at)))


def find_client(client_id: str | None) -> OAuthClient | None:
    # A value no row can hold (too long, NUL: PostgreSQL refuses to even compare
    # it) names no client: no query is made.
    if not client_id or len(client_id) > 64 or not is_storable(client_id):
        return None
    return db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


def client_is_usable(client: OAuthClient, moment: datetime | None = None) -> bool:
    """Not expired, and its external app and module are enabled."""
    moment = moment or now()
    if client.expires_at is not None and client.expires_at <= moment:
        return False
    return client.template.external_app.usable


def authenticate_client(client_id: str | None, secret: str | None) -> OAuthClient | None:
    """The usable client with this id and secret, else None (constant-time compare)."""
    client = find_client(client_id)
    if client is None or not secret:
        # Spend the same time as a real check.
        hmac.compare_digest(hash_client_secret(secret or ""), "0" * 64)
        return None
    if not hmac.compare_digest(hash_client_secret(secret), client.secret_hash):
        return None
    return client if client_is_usable(client) else None


def delete_client(client: OAuthClient, by: User | None = None) -> None:
    """Delete the client and every grant, code and token it had (its codes go with
    it through their foreign key's ``ON DELETE CASCADE``)."""
    revoke_grants_where(Grant.client_pk == client.id, by=by, reason="client_deleted",
                        client_id=client.client_id)
    audit.record(audit.CLIENT_DELETED, user_id=by.id if by else None,
                 client_id=client.client_id, name=client.name)
    db.session.delete(client)


def _stop_external_app(external_app: ExternalApp | None, by: User | None,
                       reason: str) -> None:
    """Void the pending codes and revoke the grants of every client of the app, so
    that turning it back on brings back nothing granted before (issue 9, finding 9)."""
    if external_app is None:
        return
    template_ids = [t.id for t in external_app.templates]
    if not template_ids:
        return
    client_ids = select(OAuthClient.id).where(OAuthClient.template_id.in_(template_ids))
    # Codes first: a redemption racing this change then either finds its code gone,
    # or (on PostgreSQL the DELETE waits for its row lock) has committed its grant
    # before the UPDATE below starts, and that grant is revoked with the others.
    void_codes_where(AuthorizationCode.client_pk.in_(client_ids))
    revoke_grants_where(Grant.kind == GRANT_OAUTH, Grant.client_pk.in_(client_ids), by=by,
                        reason=reason, module=external_app.module.name)
