"""The ``col-auth`` command (a Flask CLI group bound to ``create_app``).

Every create verb prints what it made; with ``--json`` as one JSON object. A
command that changes the store is a ``store_command``: it runs in one
transaction, committed when it ends, and a core error becomes a usage error
(``message (code)``, exit 1) with nothing written.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy.engine import make_url

from . import create_app
from .core import accounts, legacy_apps, oauth_clients
from .core.accounts import create_site as create_site_in_store
from .core.accounts import create_user as create_user_in_store
from .core.accounts import find_user, get_site_by_name
from .core.errors import CoreError, NotFound
from .core.purge import purge_expired
from .database import upgrade_database
from .extensions import db

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def store_command(command: Callable[..., None]) -> Callable[..., None]:
    """Run ``command`` in the app context and in one transaction (see the module)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except CoreError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None  # "message (code)"
        db.session.commit()

    return with_appcontext(wrapper)


def emit(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            if isinstance(value, list | tuple):
                value = " ".join(str(v) for v in value)
            click.echo(f"{key}: {value}")


@click.command("init-db")
@json_option
@with_appcontext
def init_db(as_json: bool) -> None:
    """Create the database if missing and bring its schema up to date."""
    upgrade_database(current_app._get_current_object())
    emit({"database": _safe_url(current_app.config["SQLALCHEMY_DATABASE_URI"]),
          "status": "up to date"}, as_json)


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@click.command("create-site")
@click.argument("name")
@json_option
@store_command
def create_site(name: str, as_json: bool) -> None:
    """Create a site."""
    site = create_site_in_store(name)
    emit({"siteid": site.id, "name": site.name}, as_json)


@click.command("create-user")
@click.argument("username")
@click.option("--site", "site_name", required=True, help="Name of the user's site.")
@click.option("--password", required=True)
@click.option("--full-name", default="")
@click.option("--email", default="")
@click.option("--site-admin", is_flag=True, help="Make the user a site administrator.")
@click.option("--system-admin", is_flag=True, help="Make the user a system administrator.")
# Optional profile details, released as OpenID claims (the user can change them at
# /profile/details).
@click.option("--given-name", default="", help="Given name (the given_name claim).")
@click.option("--family-name", default="", help="Family name (the family_name claim).")
@click.option("--phone", "phone_number", default="",
              help="Phone number, such as +1 (425) 555-1212 (the phone_number claim).")
@click.option("--address", default="",
              help="Postal address; \\n between lines (the address claim's formatted).")
@json_option
@store_command
def create_user(username, site_name, password, full_name, email, site_admin, system_admin,
                given_name, family_name, phone_number, address, as_json) -> None:
    """Create a user of a site."""
    user = create_user_in_store(username, site=get_site_by_name(site_name), password=password,
                                full_name=full_name, email=email, site_admin=site_admin,
                                system_admin=system_admin, given_name=given_name,
                                family_name=family_name, phone_number=phone_number,
                                address=address.replace("\\n", "\n"))
    emit({"userid": user.id, "username": user.username, "site": user.site.name,
          "role": user.role, "system_admin": user.is_system_admin}, as_json)


@click.command("set-password")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@json_option
@store_command
def set_password(username: str, password: str, as_json: bool) -> None:
    """Give a user a new password; every session of theirs ends."""
    user = accounts.get_user_by_username(username)
    ended = accounts.set_password(user, password)
    emit({"username": user.username, "sessions_ended": ended}, as_json)


def _activation_command(verb: str, active: bool, summary: str) -> click.Command:
    @click.command(verb, help=summary)
    @click.argument("username")
    @json_option
    @store_command
    def command(username: str, as_json: bool) -> None:
        user = accounts.get_user_by_username(username)
        accounts.set_active(user, active)
        emit({"username": user.username, "active": active}, as_json)

    return command


deactivate_user = _activation_command(
    "deactivate-user", False,
    "Deactivate a user: sessions end, pending codes are void, tokens stop working.")
activate_user = _activation_command(
    "activate-user", True, "Activate a user again (they sign in anew; old sessions stay ended).")


@click.command("create-app")
@click.option("--owner", required=True, help="Username of the developer who owns the app.")
@click.option("--name", required=True)
@click.option("--return-url", required=True)
@click.option("--privacy-url", default=None)
@json_option
@store_command
def create_app_command(owner, name, return_url, privacy_url, as_json) -> None:
    """Register a legacy app; prints its AppToken and its AppSecret (shown once)."""
    user = find_user(owner)
    if user is None:
        raise NotFound("unknown_user", f"no user named {owner!r}")
    legacy_app, secret = legacy_apps.register_app(user, name=name, return_url=return_url,
                                                  privacy_url=privacy_url)
    emit({"app_token": legacy_app.app_token, "app_secret": secret, "name": legacy_app.name,
          "return_url": legacy_app.return_url}, as_json)


@click.command("create-module")
@click.argument("name")
@click.option("--description", default="")
@json_option
@store_command
def create_module(name: str, description: str, as_json: bool) -> None:
    """Create a module (its external app stays disabled until a client is made)."""
    module = oauth_clients.create_module(name, description)
    emit({"module_id": module.id, "name": module.name}, as_json)


@click.command("create-client")
@click.option("--module", "module_name", required=True, help="Name of the module.")
@click.option("--template", "template_name", required=True,
              help="Name of the client template; created with --scopes if missing.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True,
              help="A registered redirect URI; repeat for more.")
@click.option("--expires", "expires_days", type=int, default=None,
              help="Validity period in days (default: never expires).")
@click.option("--scopes", default="openid api", show_default=True,
              help="Access levels of a template created here.")
@click.option("--name", default=None, help="Name of the client (default: the template's).")
@click.option("--public", is_flag=True,
              help="A public client (a browser or mobile app): no secret, "
                   "token_endpoint_auth_method none, PKCE S256 required.")
@click.option("--require-pkce", is_flag=True,
              help="Require PKCE S256 of this (confidential) client too.")
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True,
              help="A registered post-logout redirect URI (RP-Initiated Logout); "
                   "repeat for more.")
@json_option
@store_command
def create_client(module_name, template_name, redirect_uris, expires_days, scopes, name,
                  public, require_pkce, post_logout_redirect_uris, as_json) -> None:
    """Create an OAuth/OIDC client; enables the module's external app and creates the
    template if needed. Prints its client_id and its client_secret (shown once; null
    for a public client, which has none)."""
    module = oauth_clients.get_module_by_name(module_name)
    external_app = oauth_clients.ensure_external_app_enabled(module)
    template = oauth_clients.find_or_create_template(external_app, template_name, scopes)
    client, secret = oauth_clients.create_client(
        template, name=name or template.name, redirect_uris=list(redirect_uris),
        expires_days=expires_days, public=public, require_pkce=require_pkce,
        post_logout_redirect_uris=list(post_logout_redirect_uris))
    created = {
        "client_id": client.client_id, "client_secret": secret, "name": client.name,
        "module": module.name, "template": template.name, "scopes": template.scopes,
        "public": client.public, "require_pkce": client.pkce_required,
        "redirect_uris": client.redirect_uri_list,
        "post_logout_redirect_uris": client.post_logout_redirect_uri_list,
        "expires_at": client.expires_at.isoformat() + "Z" if client.expires_at else None,
    }
    insecure = oauth_clients.insecure_uris(client)
    if insecure:
        # Allowed by ALLOW_HTTP_REDIRECT_URIS; said once more, as the admin page says it.
        created["warning"] = ("plain http outside loopback: codes and tokens sent to "
                              + " ".join(insecure) + " cross the network unencrypted")
    emit(created, as_json)


@click.command("purge")
@click.option("--batch-size", type=int, default=None,
              help="Rows per batch (default: the PURGE_BATCH_SIZE setting).")
@json_option
@store_command
def purge(batch_size: int | None, as_json: bool) -> None:
    """Delete expired codes, tokens and sign-in sessions, in batches (each batch
    commits by itself)."""
    size = batch_size or int(current_app.config["PURGE_BATCH_SIZE"])
    emit(purge_expired(batch_size=size), as_json)


@click.command("reencrypt-secrets")
@json_option
@store_command
def reencrypt_secrets(as_json: bool) -> None:
    """Re-encrypt every AppSecret under the first of ENCRYPTION_KEYS (key rotation)."""
    emit({"reencrypted": legacy_apps.reencrypt_secrets()}, as_json)


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--sample-port", default=5001, show_default=True)
@with_appcontext
def demo(host: str, port: int, sample_port: int) -> None:
    """Create and seed the database if needed, print every login, serve the demo."""
    # Imported here, not at the top: the demo brings the sample app and its servers,
    # which no worker of a deployment needs.
    from .demo import run_demo

    run_demo(current_app._get_current_object(), host=host, port=port, sample_port=sample_port)


def register_commands(flask_app: Flask) -> None:
    for command in (init_db, create_site, create_user, set_password, deactivate_user,
                    activate_user, create_app_command, create_module, create_client, purge,
                    reencrypt_secrets, demo):
        flask_app.cli.add_command(command)


def main() -> None:
    """Entry point of the ``col-auth`` console script."""
    FlaskGroup(create_app=lambda: create_app(), help="col_auth administration.")()
