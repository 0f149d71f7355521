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
from urllib.parse import urlsplit

from flask import current_app, has_app_context
from sqlalchemy import ColumnElement, Select, and_, bindparam, delete, select
from sqlalchemy.orm import joinedload

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
    Consent,
    ExternalApp,
    Grant,
    Module,
    OAuthClient,
    User,
)
from .scopes import parse_access_levels, scope_string
from .text import check_length, check_text, is_storable
from .urls import split_absolute_url

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


def create_template(external_app: ExternalApp, name: str, scopes) -> ClientTemplate:
    name = _name(name, "Name")
    chosen = parse_access_levels(scopes)
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


def http_redirect_uris_allowed() -> bool:
    """``ALLOW_HTTP_REDIRECT_URIS``: may http URIs on hosts that are not loopback be
    registered and redirected to? Outside an app (a pure check) they may not."""
    if not has_app_context():
        return False
    return bool(current_app.config.get("ALLOW_HTTP_REDIRECT_URIS", False))  # the factory parsed it


def is_insecure_uri(uri: str) -> bool:
    """http on a host that is not loopback: what only ``ALLOW_HTTP_REDIRECT_URIS``
    lets in, and what the admin pages warn about (the code and the tokens a
    redirect carries cross the network in clear, RFC 9700 §4.1.1)."""
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS


def insecure_uris(client: OAuthClient) -> list[str]:
    """The client's redirect and post-logout URIs that are plain http off loopback."""
    return [uri for uri in (*client.redirect_uri_list, *client.post_logout_redirect_uri_list)
            if is_insecure_uri(uri)]


def check_redirect_uri(uri: str) -> str:
    """A redirect URI fit to register, or to redirect to (RFC 6749 §3.1.2, RFC 9700
    §2.1 and §4.1).

    Absolute, no fragment, no user info; https, or http on a loopback host (RFC 8252
    §7.3), or http on any host while ``ALLOW_HTTP_REDIRECT_URIS`` is on (intranets
    reached over plain http). The authorization endpoint checks a stored URI again
    before redirecting, so turning the setting off stops redirects to such URIs.
    """
    uri = (uri or "").strip()
    parts = split_absolute_url(uri, "Redirect URI", "invalid_redirect_uri")
    if (parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS
            and not http_redirect_uris_allowed()):
        raise ValidationError("invalid_redirect_uri",
                              f"{uri!r}: http is allowed only for localhost")
    if parts.fragment or "#" in uri:
        raise ValidationError("invalid_redirect_uri", f"{uri!r} must not have a fragment")
    return uri


def _uri_list(uris: list[str] | tuple[str, ...], what: str, *, required: bool) -> list[str]:
    checked = [check_redirect_uri(u) for u in uris if (u or "").strip()]
    if required and not checked:
        raise ValidationError("invalid_redirect_uri", f"at least one {what} is required")
    if len(checked) > MAX_REDIRECT_URIS:
        raise ValidationError("invalid_redirect_uri", f"at most {MAX_REDIRECT_URIS} {what}s")
    return list(dict.fromkeys(checked))


def create_client(
    template: ClientTemplate,
    *,
    name: str,
    redirect_uris: list[str],
    expires_days: int | None = None,
    public: bool = False,
    require_pkce: bool = False,
    post_logout_redirect_uris: list[str] | tuple[str, ...] = (),
    by: User | None = None,
) -> tuple[OAuthClient, str | None]:
    """A client of the template; returns it and its ``client_secret`` (shown once),
    or None for a public client, which has none and must use PKCE."""
    name = _name(name, "Name")
    uris = _uri_list(redirect_uris, "Redirect URI", required=True)
    logout_uris = _uri_list(post_logout_redirect_uris, "Post-logout redirect URI",
                            required=False)
    expires_at: datetime | None = None
    if expires_days is not None:
        if not 1 <= int(expires_days) <= 36500:
            raise ValidationError("invalid_expires", "Expires must be between 1 and 36500 days")
        expires_at = now() + timedelta(days=int(expires_days))
    secret = None if public else secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id=new_guid().lower(),
        secret_hash=hash_client_secret(secret) if secret else None,
        public=public,
        require_pkce=require_pkce or public,
        template=template,
        name=name,
        redirect_uris=json.dumps(uris),
        post_logout_redirect_uris=json.dumps(logout_uris),
        expires_at=expires_at,
    )
    db.session.add(client)
    db.session.flush()
    audit.record(audit.CLIENT_CREATED, user_id=by.id if by else None,
                 client_id=client.client_id, template=template.name, public=public)
    return client, secret


def clients_of(external_app: ExternalApp) -> list[OAuthClient]:
    template_ids = [t.id for t in external_app.templates]
    if not template_ids:
        return []
    return list(db.session.scalars(
        select(OAuthClient).where(OAuthClient.template_id.in_(template_ids))
        .order_by(OAuthClient.created_at)))


# The client with everything ``client_is_usable`` reads (its template, the
# template's external app and that app's module), in one query rather than three
# lazy loads after it (issue 11). Each of the three exists for every client
# (non-null foreign keys), hence inner joins. The icons (up to ICON_MAX_BYTES each)
# are read only by the pages that show them, when they do.
_app_path = joinedload(OAuthClient.template, innerjoin=True).joinedload(
    ClientTemplate.external_app, innerjoin=True)
_CLIENT_QUERY = (
    select(OAuthClient)
    .options(_app_path.defer(ExternalApp.icon),
             _app_path.joinedload(ExternalApp.module, innerjoin=True).defer(Module.icon))
    .where(OAuthClient.client_id == bindparam("client_id"))
)


def _nameable(client_id: str | None) -> bool:
    # A value no row can hold (too long, NUL: PostgreSQL refuses to even compare
    # it) names no client: no query is made.
    return bool(client_id) and len(client_id) <= 64 and is_storable(client_id)


def find_client(client_id: str | None) -> OAuthClient | None:
    """The client with this ``client_id``, its template, external app and module
    loaded with it (one query), else None."""
    if not _nameable(client_id):
        return None
    return db.session.scalar(_CLIENT_QUERY, {"client_id": client_id})


# Whether a client's external app and module are enabled, in SQL: what
# ``ExternalApp.usable`` says in Python.
APP_USABLE = and_(ExternalApp.enabled, Module.enabled).label("app_usable")


def _with_app_usable(query: Select) -> Select:
    """``query``, which selects from ``OAuthClient``, with the column ``APP_USABLE``:
    joined through the client's template and external app to its module (each
    exists)."""
    return (query.add_columns(APP_USABLE)
            .join(ClientTemplate, ClientTemplate.id == OAuthClient.template_id)
            .join(ExternalApp, ExternalApp.id == ClientTemplate.external_app_id)
            .join(Module, Module.id == ExternalApp.module_id))


def join_app_usable(query: Select, client_pk: ColumnElement) -> Select:
    """``query`` with the column ``APP_USABLE`` of the client ``client_pk`` names."""
    return _with_app_usable(query.join(OAuthClient, OAuthClient.id == client_pk))


# Client authentication's query: the client alone as an object, and its app's
# usability as a column, which is cheaper to load than ``find_client``'s four
# objects (the token endpoint authenticates a client on every request, issue 11).
_AUTHENTICATION_QUERY = _with_app_usable(select(OAuthClient)).where(
    OAuthClient.client_id == bindparam("client_id"))


def find_client_to_authenticate(client_id: str | None) -> tuple[OAuthClient | None, bool]:
    """The client with this ``client_id`` (else None) and whether it is usable now
    (``client_is_usable``), from one query. Its template, external app and module
    are not loaded: the usability comes from the query, current as of it."""
    if not _nameable(client_id):
        return None, False
    row = db.session.execute(_AUTHENTICATION_QUERY, {"client_id": client_id}).first()
    if row is None:
        return None, False
    return row.OAuthClient, client_is_usable(row.OAuthClient, app_usable=row.app_usable)


def client_is_usable(client: OAuthClient, moment: datetime | None = None, *,
                     app_usable: bool | None = None) -> bool:
    """Not expired, and its external app and module are enabled: ``app_usable`` if a
    query read it with the client (``APP_USABLE``), else through the client's
    template (no query when ``client`` came from ``find_client``)."""
    moment = moment or now()
    if client.expires_at is not None and client.expires_at <= moment:
        return False
    if app_usable is not None:
        return bool(app_usable)
    return client.template.external_app.usable


def origin_of(uri: str) -> str | None:
    """The origin (``scheme://host[:port]``) a browser sends for pages at ``uri``:
    scheme and host in lower case, the default port left out (RFC 6454 §6.1)."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return None
    if ":" in host:
        host = f"[{host}]"  # IPv6
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def redirect_origins(client: OAuthClient) -> set[str]:
    """The origins of the client's redirect URIs that may be redirected to now: the
    pages of its own app, which alone may call the token endpoints from a browser."""
    return _origins(client.redirect_uri_list)


def usable_redirect_origins() -> set[str]:
    """The redirect-URI origins of every usable client, in one query: what a CORS
    preflight, which names no client, is answered for."""
    lists = db.session.scalars(
        select(OAuthClient.redirect_uris)
        .join(ClientTemplate, OAuthClient.template_id == ClientTemplate.id)
        .join(ExternalApp, ClientTemplate.external_app_id == ExternalApp.id)
        .join(Module, ExternalApp.module_id == Module.id)
        .where(ExternalApp.enabled.is_(True), Module.enabled.is_(True),
               OAuthClient.expires_at.is_(None) | (OAuthClient.expires_at > now())))
    return _origins([uri for stored in lists for uri in json.loads(stored)])


def _origins(uris: list[str]) -> set[str]:
    # A plain-http URI stops counting when ALLOW_HTTP_REDIRECT_URIS is turned off,
    # as redirects to it stop (check_redirect_uri).
    allowed = http_redirect_uris_allowed()
    origins = {origin_of(uri) for uri in uris if allowed or not is_insecure_uri(uri)}
    return {origin for origin in origins if origin}


def secret_matches(client: OAuthClient | None, secret: str | None) -> bool:
    """Whether ``secret`` is the client's (constant-time compare of the keyed hashes).
    No client, no secret, or a public client (which has none to match) spends the
    same time and answers False."""
    if client is None or not secret or client.secret_hash is None:
        hmac.compare_digest(hash_client_secret(secret or ""), "0" * 64)
        return False
    return hmac.compare_digest(hash_client_secret(secret), client.secret_hash)


def authenticate_client(client_id: str | None, secret: str | None) -> OAuthClient | None:
    """The usable client with this id and secret, else None: one query, then the
    constant-time compare."""
    client, usable = find_client_to_authenticate(client_id)
    return client if secret_matches(client, secret) and usable else None


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
    # Nor is a remembered consent: the user is asked again once it is back on.
    db.session.execute(delete(Consent).where(Consent.client_pk.in_(client_ids))
                       .execution_options(synchronize_session=False))
    revoke_grants_where(Grant.kind == GRANT_OAUTH, Grant.client_pk.in_(client_ids), by=by,
                        reason=reason, module=external_app.module.name)
