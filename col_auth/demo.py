"""``col-auth demo``: a seeded database, every login printed, and both servers running."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import click
from col_auth_sample_app import create_sample_app
from flask import Flask, current_app
from sqlalchemy import select
from werkzeug.serving import make_server

from .core import oauth_clients
from .core.accounts import create_site, create_user, find_user
from .core.legacy_apps import app_secret, register_app
from .core.models import LegacyApp, Site
from .database import upgrade_database
from .extensions import db
from .oauth import PREFIX as OAUTH_PREFIX

DEMO_SITE = "Sample CU"
DEMO_APP_NAME = "Sample Third-Party App"
DEMO_MODULE = "Sample Module"
DEMO_TEMPLATE = "Sample template"
DEMO_CLIENT_FILE = "demo_oauth_client.json"
DEMO_USERS = (
    # username, password, full name, email, site admin, system admin
    ("admin", "admin-demo-pass", "Alex Admin", "admin@sample-cu.example", True, True),
    ("member", "member-demo-pass", "Morgan Member", "member@sample-cu.example", False, False),
)


def seed_demo(sample_url: str) -> dict[str, Any]:
    """Seed the demo data into an empty database; return what the demo prints.

    Re-running finds the data it seeded. The AppSecret is decrypted to be printed
    again, and the OAuth2 client secret (stored only as a hash) is kept in
    instance/demo_oauth_client.json (mode 0600) for the same reason: acceptable for
    a demo, done nowhere else.
    """
    client_file = Path(current_app.instance_path) / DEMO_CLIENT_FILE
    if db.session.scalar(select(Site).limit(1)) is None:
        site = create_site(DEMO_SITE)
        for username, password, full_name, email, site_admin, system_admin in DEMO_USERS:
            create_user(username, site=site, password=password, full_name=full_name,
                        email=email, site_admin=site_admin, system_admin=system_admin)
        register_app(find_user("admin"), name=DEMO_APP_NAME, return_url=f"{sample_url}/col",
                     privacy_url=f"{sample_url}/privacy")
        module = oauth_clients.create_module(
            DEMO_MODULE, "A module whose external app the sample third-party app connects to.")
        oauth_clients.ensure_external_app_enabled(module)
        # openid also brings profile and email, what "Sign in with col_auth" asks for.
        template = oauth_clients.create_template(module.external_app, DEMO_TEMPLATE,
                                                 "openid api")
        client, secret = oauth_clients.create_client(
            template, name=DEMO_APP_NAME,
            # The connection's callback first: the one the demo prints.
            redirect_uris=[f"{sample_url}/oauth/callback", f"{sample_url}/signin/callback"],
            post_logout_redirect_uris=[f"{sample_url}/signed-out"])
        db.session.commit()
        _write_private(client_file, {"client_id": client.client_id, "client_secret": secret})
    legacy_app = db.session.scalar(select(LegacyApp).where(LegacyApp.name == DEMO_APP_NAME))
    info: dict[str, Any] = {"users": DEMO_USERS}
    if legacy_app is not None:
        info["app_token"] = legacy_app.app_token
        info["app_secret"] = app_secret(legacy_app)
        info["return_url"] = legacy_app.return_url
    if client_file.exists():
        saved = json.loads(client_file.read_text())
        client = oauth_clients.find_client(saved["client_id"])
        if client is not None:
            info["client_id"] = client.client_id
            info["client_secret"] = saved["client_secret"]
            info["redirect_uri"] = client.redirect_uri_list[0]
            info["post_logout_redirect_uris"] = client.post_logout_redirect_uri_list
    return info


def _write_private(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)


def _serve(flask_app: Flask, host: str, port: int) -> Any:
    server = make_server(host, port, flask_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True, name=f"serve-{port}").start()
    return server


def run_demo(flask_app: Flask, *, host: str, port: int, sample_port: int) -> None:
    upgrade_database(flask_app)
    base = f"http://{host}:{port}"
    sample_url = f"http://{host}:{sample_port}"
    info = seed_demo(sample_url)

    echo = click.echo
    echo(f"col_auth demo, database {flask_app.config['SQLALCHEMY_DATABASE_URI']}")
    echo(f"\nService:            {base}/")
    echo(f"Sample third-party: {sample_url}/")
    echo(f"\nLogins (site {DEMO_SITE!r}):")
    for username, password, full_name, _email, site_admin, system_admin in DEMO_USERS:
        roles = ", ".join(r for r, on in (("site administrator", site_admin),
                                          ("system administrator", system_admin)) if on)
        echo(f"  {username} / {password}   {full_name}{' (' + roles + ')' if roles else ''}")
    if "app_token" in info:
        echo(f"\nLegacy app {DEMO_APP_NAME!r}:")
        echo(f"  AppToken:   {info['app_token']}")
        echo(f"  AppSecret:  {info['app_secret']}")
        echo(f"  Return URL: {info['return_url']}")
        echo(f"  User token link: {base}/auth/?apptoken={info['app_token']}&type=44")
        echo(f"  Site token link: {base}/auth/?apptoken={info['app_token']}&type=1")
    if "client_id" in info:
        echo(f"\nOAuth2 client of module {DEMO_MODULE!r}:")
        echo(f"  client_id:     {info['client_id']}")
        echo(f"  client_secret: {info['client_secret']}")
        echo(f"  redirect_uri:  {info['redirect_uri']}")
        if info.get("post_logout_redirect_uris"):
            echo(f"  post-logout:   {', '.join(info['post_logout_redirect_uris'])}")
        echo(f"  Discovery:     {base}/.well-known/openid-configuration")
        query = urlencode({"client_id": info["client_id"], "redirect_uri": info["redirect_uri"],
                           "scope": "openid api", "response_type": "code",
                           "response_mode": "query", "state": "demo"})
        echo(f"  Authorize link: {base}{OAUTH_PREFIX}/authorize?{query}")

    servers = [_serve(flask_app, host, port)]
    servers.append(_serve(create_sample_app({
        "COL_AUTH_URL": base,
        "PUBLIC_URL": sample_url,
        "STATE_DIR": str(Path(flask_app.instance_path) / "sample_app"),
        "APP_TOKEN": info.get("app_token", ""),
        "APP_SECRET": info.get("app_secret", ""),
        "CLIENT_ID": info.get("client_id", ""),
        "CLIENT_SECRET": info.get("client_secret", ""),
    }), host, sample_port))
    echo("\nPress Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        echo("\nStopping.")
    finally:
        for server in servers:
            server.shutdown()
