"""``col-auth demo``: a seeded database, every login printed, and both servers running."""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from .core.models import LegacyApp, Site
from .extensions import db

DEMO_SITE = "Sample CU"
DEMO_APP_NAME = "Sample Third-Party App"
DEMO_USERS = (
    # username, password, full name, email, site admin, system admin
    ("admin", "admin-demo-pass", "Alex Admin", "admin@sample-cu.example", True, True),
    ("member", "member-demo-pass", "Morgan Member", "member@sample-cu.example", False, False),
)
SAMPLE_APP_DIR = Path(__file__).resolve().parent.parent / "examples" / "sample_app"


def seed_demo(sample_url: str) -> dict[str, Any]:
    """Seed the demo data into an empty database; return what the demo prints.

    Re-running finds the data it seeded. The AppSecret is decrypted to be printed
    again: acceptable for a demo, never done anywhere else.
    """
    from .core.accounts import create_site, create_user, find_user
    from .core.legacy_apps import app_secret, register_app

    if db.session.scalar(select(Site).limit(1)) is None:
        site = create_site(DEMO_SITE)
        for username, password, full_name, email, site_admin, system_admin in DEMO_USERS:
            create_user(username, site=site, password=password, full_name=full_name,
                        email=email, site_admin=site_admin, system_admin=system_admin)
        register_app(find_user("admin"), name=DEMO_APP_NAME, return_url=f"{sample_url}/col",
                     privacy_url=f"{sample_url}/privacy")
        db.session.commit()
    app = db.session.scalar(select(LegacyApp).where(LegacyApp.name == DEMO_APP_NAME))
    info: dict[str, Any] = {"users": DEMO_USERS}
    if app is not None:
        info["app_token"] = app.app_token
        info["app_secret"] = app_secret(app)
        info["return_url"] = app.return_url
    return info


def load_sample_app(settings: dict[str, str]) -> Flask | None:
    """The bundled sample third-party app, or None when this install does not ship it."""
    path = SAMPLE_APP_DIR / "app.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("col_auth_sample_app", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.create_sample_app(settings)


def _serve(app: Flask, host: str, port: int) -> Any:
    server = make_server(host, port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True, name=f"serve-{port}").start()
    return server


def run_demo(app: Flask, *, host: str, port: int, sample_port: int) -> None:
    from .database import upgrade_database

    upgrade_database(app)
    base = f"http://{host}:{port}"
    sample_url = f"http://{host}:{sample_port}"
    info = seed_demo(sample_url)

    echo = click.echo
    echo(f"col_auth demo, database {app.config['SQLALCHEMY_DATABASE_URI']}")
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

    servers = [_serve(app, host, port)]
    sample = load_sample_app({
        "COL_AUTH_URL": base,
        "APP_TOKEN": info.get("app_token", ""),
        "APP_SECRET": info.get("app_secret", ""),
    })
    if sample is not None:
        servers.append(_serve(sample, host, sample_port))
    else:
        echo("\n(the sample app is not shipped with this install; serving the service only)")
    echo("\nPress Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        echo("\nStopping.")
    finally:
        for server in servers:
            server.shutdown()
