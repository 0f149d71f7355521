"""A sample third-party app: it connects to col_auth both ways and uses what it gets.

It is built only on ``col_auth.client`` (what an integrator would import) and
never sees a user's password. ``col-auth demo`` starts it on port 5001, already
configured; to run it alone, set the ``SAMPLE_*`` variables below and run
``flask --app col_auth_sample_app:create_sample_app run --port 5001``.

Settings (each also read from the environment as ``SAMPLE_<NAME>``):
``COL_AUTH_URL`` the service, ``PUBLIC_URL`` this app's own base URL (its
redirect URI is ``PUBLIC_URL/oauth/callback``), ``APP_TOKEN`` and ``APP_SECRET``
of the registered legacy app, ``CLIENT_ID`` and ``CLIENT_SECRET`` of the OAuth2
client, ``STATE_DIR`` where the OAuth2 credential file is kept.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

import requests
from flask import Flask, flash, redirect, render_template, request, url_for
from flask_wtf import CSRFProtect

from col_auth.client import (
    AuthorizationError,
    Cancelled,
    FileCredentialStore,
    LegacyClient,
    OAuth2Connection,
    OAuth2Error,
    PacketError,
    Status,
)

SETTINGS = ("COL_AUTH_URL", "PUBLIC_URL", "APP_TOKEN", "APP_SECRET", "CLIENT_ID",
            "CLIENT_SECRET", "STATE_DIR")


def _settings(given: dict[str, str] | None) -> dict[str, str]:
    settings = {k: v for k, v in (given or {}).items() if v}
    for key in SETTINGS:
        settings.setdefault(key, os.environ.get(f"SAMPLE_{key}", ""))
    settings["COL_AUTH_URL"] = (settings["COL_AUTH_URL"] or "http://127.0.0.1:5000").rstrip("/")
    settings["PUBLIC_URL"] = (settings["PUBLIC_URL"] or "http://127.0.0.1:5001").rstrip("/")
    if not settings["STATE_DIR"]:
        settings["STATE_DIR"] = tempfile.mkdtemp(prefix="col-auth-sample-")
    return settings


def create_sample_app(given: dict[str, str] | None = None) -> Flask:
    settings = _settings(given)
    base = settings["COL_AUTH_URL"]
    app = Flask(__name__)
    app.config["SECRET_KEY"] = secrets.token_urlsafe(32)
    app.config["SESSION_COOKIE_NAME"] = "sample_app_session"
    CSRFProtect(app)

    legacy = LegacyClient(base, settings["APP_TOKEN"], settings["APP_SECRET"])
    connection = OAuth2Connection(
        client_id=settings["CLIENT_ID"] or None,
        client_secret=settings["CLIENT_SECRET"] or None,
        redirect_uri=f"{settings['PUBLIC_URL']}/oauth/callback",
        discovery_url=f"{base}/.well-known/openid-configuration",
        store=FileCredentialStore(Path(settings["STATE_DIR"]) / "oauth_credential.json"),
    )
    # What the legacy flow last brought back. A real app would keep it per user in
    # its own database; the sample keeps the last one, for the person at the screen.
    legacy_state: dict[str, Any] = {}
    oauth_state: dict[str, Any] = {}

    def page(status: int = 200, **context):
        return render_template(
            "index.html", base=base, legacy=legacy_state, oauth=oauth_state,
            connection=connection, Status=Status,
            user_link=legacy.authorization_url(), site_link=legacy.authorization_url(site=True),
            **context,
        ), status

    @app.route("/")
    def index():
        return page()

    @app.route("/privacy")
    def privacy():
        return "<p>The sample app keeps nothing about you but the token you grant it.</p>"

    @app.route("/col")
    def legacy_return():
        """The Return URL of the registered app: a packet, or cancel=1."""
        legacy_state.clear()
        try:
            result = legacy.read_return(request.args)
        except AuthorizationError as exc:
            legacy_state["error"] = f"col_auth refused: {exc.error}"
            return page(400)
        except PacketError as exc:
            legacy_state["error"] = f"the packet was rejected: {exc.code}"
            return page(400)
        if isinstance(result, Cancelled):
            legacy_state["cancelled"] = True
            return page()
        legacy_state["grant"] = {k: v for k, v in result.claims.items() if k != "token"}
        legacy_state["grant"]["token"] = result.token[:18] + "…"
        session = legacy.session(result.username, result.token)
        response = session.get(f"{base}/api/v1/me", timeout=10)
        legacy_state["me"] = response.json()
        legacy_state["me_status"] = response.status_code
        return page()

    @app.route("/oauth/start")
    def oauth_start():
        try:
            return redirect(connection.authorization_url())
        except (OAuth2Error, requests.RequestException) as exc:
            flash(f"Cannot start: {exc}")
            return redirect(url_for("index"))

    @app.route("/oauth/callback")
    def oauth_callback():
        oauth_state.clear()
        try:
            claims = connection.complete(request.url)
        except OAuth2Error as exc:
            oauth_state["error"] = f"{exc.error}: {exc.description}"
            return page(400)
        oauth_state["id_token"] = claims
        return redirect(url_for("index"))

    @app.post("/oauth/check")
    def oauth_check():
        connection.check()
        return redirect(url_for("index"))

    @app.post("/oauth/me")
    def oauth_me():
        oauth_state.pop("me", None)
        try:
            response = connection.request("GET", f"{base}/api/v1/me", timeout=10)
            oauth_state["me"] = response.json()
            oauth_state["me_status"] = response.status_code
        except OAuth2Error as exc:
            oauth_state["error"] = f"{exc.error}: {exc.description}"
        return redirect(url_for("index"))

    @app.post("/oauth/clear")
    def oauth_clear():
        connection.clear_credential()
        oauth_state.clear()
        return redirect(url_for("index"))

    @app.post("/legacy/clear")
    def legacy_clear():
        legacy_state.clear()
        return redirect(url_for("index"))

    return app
