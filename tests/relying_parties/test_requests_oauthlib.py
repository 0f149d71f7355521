"""requests-oauthlib's ``OAuth2Session`` as its "Web Application Flow" page shows it,
with scope ``openid profile email`` and PKCE: authorization URL, token, UserInfo,
refresh."""

from __future__ import annotations

import requests
from requests_oauthlib import OAuth2Session

from tests.helpers import Browser, query_of
from tests.oauth.support import consent, seed_client

SCOPE = ["openid", "profile", "email"]


def test_requests_oauthlib_signs_in_with_openid_profile_email(app, live, monkeypatch):
    # oauthlib refuses plain http; the test server is http on 127.0.0.1. Real
    # deployments are https and set nothing.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    seeded = seed_client(app)
    meta = requests.get(f"{live.url}/.well-known/openid-configuration", timeout=10).json()
    session = OAuth2Session(seeded.client_id, redirect_uri=seeded.redirect_uri, scope=SCOPE,
                            pkce="S256")
    url, state = session.authorization_url(meta["authorization_endpoint"])
    query = query_of(url)
    assert query["scope"] == ["openid profile email"]
    assert query["code_challenge_method"] == ["S256"]

    browser = Browser(live.url)
    browser.login("member")
    callback = consent(browser, url).headers["Location"]
    assert query_of(callback)["state"] == [state]

    token = session.fetch_token(meta["token_endpoint"], authorization_response=callback,
                                client_secret=seeded.client_secret)
    assert token["scope"] == SCOPE
    assert token["id_token"] and token["refresh_token"]

    info = session.get(meta["userinfo_endpoint"])
    assert info.status_code == 200
    assert info.json()["sub"] == seeded.legacy.member_id
    assert info.json()["name"] == "Morgan Member"
    assert info.json()["email"] == "m@sample.example"

    refreshed = session.refresh_token(meta["token_endpoint"],
                                      auth=(seeded.client_id, seeded.client_secret))
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert session.get(meta["userinfo_endpoint"]).status_code == 200
