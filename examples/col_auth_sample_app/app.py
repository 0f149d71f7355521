"""A sample third-party app: it connects to col_auth both ways and uses what it gets.

It is built only on ``col_auth.client`` (what an integrator would import) and
never sees a user's password. ``col-auth demo`` starts it on port 5001, already
configured; to run it alone, set the ``SAMPLE_*`` variables below and run
``flask --app col_auth_sample_app:create_sample_app run --port 5001``.

Three things to try: "Sign in with col_auth" (OpenID Connect: who you are, for
this browser; silent when col_auth already knows you and you allowed it before,
and "Sign out" signs you out of col_auth too); "Connect via OAuth2" (one
credential for the app, like an Elements Connect datasource, used to call the
Web API); and the Connections Online style legacy tokens.

Settings (each also read from the environment as ``SAMPLE_<NAME>``):
``COL_AUTH_URL`` the service, ``PUBLIC_URL`` this app's own base URL (its
redirect URIs are ``PUBLIC_URL/oauth/callback`` and ``PUBLIC_URL/signin/callback``,
its post-logout redirect URI ``PUBLIC_URL/signed-out``), ``APP_TOKEN`` and
``APP_SECRET`` of the registered legacy app, ``CLIENT_ID`` and ``CLIENT_SECRET`` of
the OAuth2 client, ``STATE_DIR`` where the OAuth2 credential file is kept.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

import requests
from flask import Flask, flash, redirect, render_template, request, session, url_for
from flask_wtf import CSRFProtect

from col_auth.client import (
    AuthorizationError,
    Cancelled,
    FileCredentialStore,
    InteractionRequired,
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


SIGN_IN_SCOPE = "openid profile email"
# What the sample keeps of a sign-in, from the verified id_token.
SHOWN_CLAIMS = ("sub", "name", "preferred_username", "email", "company")


class SessionCredentialStore:
    """A ``CredentialStore`` in this browser's session cookie (signed, not encrypted):
    each browser signs in for itself. Between "Sign in" and the callback it holds the
    pending state, nonce and PKCE verifier, which are the browser's own; the tokens
    pass through it only during the callback's request and are gone at its end."""

    def __init__(self, key: str) -> None:
        self.key = key

    def load(self) -> dict | None:
        data = session.get(self.key)
        return json.loads(json.dumps(data)) if isinstance(data, dict) else None

    def save(self, data: dict) -> None:
        session[self.key] = json.loads(json.dumps(data))

    def clear(self) -> None:
        session.pop(self.key, None)


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
    # "Sign in with col_auth": the same client, another redirect URI, the scopes of
    # who you are, and a store per browser.
    sign_in = OAuth2Connection(
        client_id=settings["CLIENT_ID"] or None,
        client_secret=settings["CLIENT_SECRET"] or None,
        redirect_uri=f"{settings['PUBLIC_URL']}/signin/callback",
        discovery_url=f"{base}/.well-known/openid-configuration",
        scope=SIGN_IN_SCOPE,
        store=SessionCredentialStore("sign_in"),
    )
    after_logout = f"{settings['PUBLIC_URL']}/signed-out"
    # What the legacy flow last brought back. A real app would keep it per user in
    # its own database; the sample keeps the last one, for the person at the screen.
    legacy_state: dict[str, Any] = {}
    oauth_state: dict[str, Any] = {}

    def page(status: int = 200, **context):
        return render_template(
            "index.html", base=base, legacy=legacy_state, oauth=oauth_state,
            connection=connection, Status=Status, user=session.get("user"),
            sign_in_configured=bool(settings["CLIENT_ID"] and settings["CLIENT_SECRET"]),
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

    @app.route("/signin")
    def signin_start():
        """Silently first (OIDC Core §3.1.2.1 ``prompt=none``): a person signed in at
        col_auth who allowed this app before comes back signed in without a page."""
        try:
            return redirect(sign_in.authorization_url(prompt="none"))
        except (OAuth2Error, requests.RequestException) as exc:
            flash(f"Cannot sign in: {exc}")
            return redirect(url_for("index"))

    @app.route("/signin/callback")
    def signin_callback():
        try:
            claims = sign_in.complete(request.url)
        except InteractionRequired as exc:
            if exc.prompt == "none":
                # col_auth needs a page (login_required, consent_required…): ask again,
                # this time letting it show its login or consent page.
                return redirect(sign_in.authorization_url())
            flash(f"Sign-in failed: {exc.error}")
            return redirect(url_for("index"))
        except (OAuth2Error, requests.RequestException) as exc:
            flash(f"Sign-in failed: {exc}")
            return redirect(url_for("index"))
        user = {k: claims[k] for k in SHOWN_CLAIMS if k in claims}
        user["id_token"] = sign_in.id_token  # the id_token_hint of the sign-out
        # The sample needs who you are, not your tokens: they are revoked at once
        # (the Web API is what "Connect via OAuth2" is for). Your consent stays
        # remembered at col_auth, so the next silent sign-in still works.
        sign_in.clear_credential()
        session["user"] = user
        return redirect(url_for("index"))

    @app.post("/signout")
    def signout():
        """Out of this app at once, then out of col_auth (RP-Initiated Logout), which
        sends the browser back to /signed-out with our state."""
        user = session.pop("user", None)
        if not user:
            return redirect(url_for("index"))
        state = secrets.token_urlsafe(16)
        session["signout_state"] = state
        try:
            return redirect(sign_in.end_session_url(
                id_token_hint=user.get("id_token") or "",
                post_logout_redirect_uri=after_logout, state=state))
        except (OAuth2Error, requests.RequestException) as exc:
            flash(f"Signed out of this app; col_auth could not be asked to sign you out: "
                  f"{exc}")
            return redirect(url_for("index"))

    @app.route("/signed-out")
    def signed_out():
        """The post-logout redirect URI: col_auth's answer, recognised by our state."""
        expected = session.pop("signout_state", None)
        if expected and secrets.compare_digest(request.args.get("state", ""), expected):
            flash("Signed out of this app and of col_auth.")
        else:
            flash("Signed out.")
        return redirect(url_for("index"))

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
