"""Authlib's Flask client, set up as its documentation shows (``server_metadata_url``,
scope ``openid email profile``), in a small Flask relying party served on its own
port: "Sign in with col_auth" through ``authorize_redirect`` and
``authorize_access_token``, which checks the id_token (signature, iss, aud, nonce)."""

from __future__ import annotations

import pytest
from authlib.integrations.flask_client import OAuth
from flask import Flask, jsonify, session, url_for

from tests.helpers import Browser, query_of
from tests.oauth.support import consent, seed_client
from tests.relying_parties.support import WsgiServer


def _relying_party() -> tuple[Flask, OAuth]:
    rp = Flask("authlib_rp")
    # Both servers are on 127.0.0.1, and cookies do not tell ports apart.
    rp.config.update(SECRET_KEY="rp-secret", SESSION_COOKIE_NAME="rp_session")
    oauth = OAuth(rp)

    @rp.route("/login")
    def login():
        return oauth.col_auth.authorize_redirect(url_for("callback", _external=True))

    @rp.route("/callback")
    def callback():
        token = oauth.col_auth.authorize_access_token()
        session["user"] = token["userinfo"]
        return jsonify(id_token=dict(token["userinfo"]), scope=token["scope"],
                       userinfo=dict(oauth.col_auth.userinfo(token=token)))

    return rp, oauth


@pytest.fixture
def relying_party():
    rp, oauth = _relying_party()
    server = WsgiServer(rp)
    yield server, oauth
    server.stop()


def test_authlib_flask_client_signs_in_with_openid_email_profile(app, live, relying_party):
    server, oauth = relying_party
    seeded = seed_client(app, redirect_uris=(f"{server.url}/callback",))
    oauth.register("col_auth", client_id=seeded.client_id,
                   client_secret=seeded.client_secret,
                   server_metadata_url=f"{live.url}/.well-known/openid-configuration",
                   client_kwargs={"scope": "openid email profile"})

    browser = Browser(live.url)
    browser.login("member")
    start = browser.get(f"{server.url}/login")
    assert start.status_code == 302
    asked = start.headers["Location"]
    assert asked.startswith(f"{live.url}/api/o/oauth/v2/authorize?")
    query = query_of(asked)
    assert query["scope"] == ["openid email profile"] and query["nonce"]

    callback = consent(browser, asked).headers["Location"]
    assert callback.startswith(f"{server.url}/callback?")
    signed_in = browser.get(callback)
    assert signed_in.status_code == 200, signed_in.text[:500]
    body = signed_in.json()
    assert body["scope"] == "openid profile email"
    claims = body["id_token"]
    assert claims["iss"] == live.url and claims["aud"] == seeded.client_id
    assert claims["sub"] == seeded.legacy.member_id
    assert claims["nonce"] == query["nonce"][0]
    assert claims["name"] == "Morgan Member" and claims["email"] == "m@sample.example"
    assert body["userinfo"]["sub"] == claims["sub"]
    assert body["userinfo"]["email"] == "m@sample.example"
