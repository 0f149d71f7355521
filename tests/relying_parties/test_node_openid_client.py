"""Node's openid-client v6 (tests/node/rp.mjs) against col_auth over real HTTP, with the
scope its documentation shows: ``openid profile email offline_access``.

openid-client checks what a strict relying party checks: the issuer of discovery,
``state`` and ``iss`` (RFC 9207) on the callback, PKCE, the id_token's signature
and ``nonce``, the UserInfo ``sub``. The test is the person: it signs in and
consents with a ``requests`` browser and hands the callback URL to the script.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from tests.helpers import Browser, query_of
from tests.oauth.support import OAuthSeed, consent, seed_client
from tests.relying_parties.support import NodeRP, require_node

SCOPE = "openid profile email offline_access"
TOKEN_PATH = "/api/o/oauth/v2/token"
AFTER_LOGOUT = "https://client.example/signed-out"
SPA_REDIRECT_URI = "https://spa.example/callback"


@pytest.fixture
def node_rp():
    require_node()
    started: list[NodeRP] = []

    def start(live, seeded: OAuthSeed, auth: str, **settings) -> NodeRP:
        rp = NodeRP({"issuer": live.url, "clientId": seeded.client_id,
                     "clientSecret": seeded.client_secret or None, "auth": auth,
                     "redirectUri": seeded.redirect_uri, "scope": SCOPE, **settings})
        started.append(rp)
        return rp

    yield start
    for rp in started:
        rp.close()


def _public_client(app) -> OAuthSeed:
    return seed_client(app, public=True, redirect_uris=(SPA_REDIRECT_URI,))


def _sign_in_and_consent(rp: NodeRP, live, seeded: OAuthSeed) -> Browser:
    """Discovery, then the authorization URL openid-client built, consented to by the
    member; the callback goes back to the script. Returns the signed-in browser."""
    assert rp.expect("discovered")["issuer"] == live.url
    asked = rp.expect("authorize")
    query = query_of(asked["url"])
    assert asked["url"].startswith(f"{live.url}/api/o/oauth/v2/authorize?")
    assert query["scope"] == [SCOPE] and query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert query["state"] == [asked["state"]] and query["nonce"] == [asked["nonce"]]
    browser = Browser(live.url)
    browser.login("member")
    callback = consent(browser, asked["url"]).headers["Location"]
    assert callback.startswith(seeded.redirect_uri + "?")
    rp.send(callback)
    return browser


def _check_tokens_userinfo_and_refresh(rp: NodeRP, live, seeded: OAuthSeed) -> dict:
    """What openid-client got for SCOPE, its UserInfo, and the refresh; returns the
    first token response."""
    first = rp.expect("tokens")
    assert first["token_type"].lower() == "bearer"
    assert first["scope"] == SCOPE
    assert first["refresh_token"], "offline_access: a refresh token"
    claims = first["claims"]
    assert claims["iss"] == live.url and claims["aud"] == seeded.client_id
    assert claims["sub"] == seeded.legacy.member_id
    assert claims["name"] == "Morgan Member" and claims["preferred_username"] == "Member"
    assert claims["email"] == "m@sample.example" and "email_verified" in claims

    info = rp.expect("userinfo")["userinfo"]
    assert info["sub"] == claims["sub"]
    assert info["name"] == "Morgan Member" and info["email"] == "m@sample.example"

    refreshed = rp.expect("refreshed")
    assert refreshed["refresh_token"] and refreshed["refresh_token"] != first["refresh_token"]
    assert refreshed["access_token"] != first["access_token"]
    assert refreshed["scope"] == SCOPE
    assert rp.expect("userinfo_after_refresh")["userinfo"]["sub"] == claims["sub"]
    return first


def _assert_spent(live, first: dict, **client_auth: str) -> None:
    """The refresh rotated the token: the one openid-client started with is spent."""
    replayed = requests.post(live.url + TOKEN_PATH, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"], **client_auth})
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"


def test_openid_client_signs_in_with_its_default_scopes_and_refreshes(app, live, node_rp):
    seeded = seed_client(app)
    # client_secret_post: openid-client's default (the logout test uses Basic).
    rp = node_rp(live, seeded, "client_secret_post")
    _sign_in_and_consent(rp, live, seeded)
    first = _check_tokens_userinfo_and_refresh(rp, live, seeded)
    rp.expect("done")
    rp.finish()

    _assert_spent(live, first, client_id=seeded.client_id,
                  client_secret=seeded.client_secret)


def test_openid_client_as_a_public_client_with_pkce(app, live, node_rp):
    seeded = _public_client(app)
    rp = node_rp(live, seeded, "none")
    _sign_in_and_consent(rp, live, seeded)
    first = _check_tokens_userinfo_and_refresh(rp, live, seeded)
    rp.expect("done")
    rp.finish()

    _assert_spent(live, first, client_id=seeded.client_id)


def test_openid_client_logout_url_ends_the_session_and_returns_with_state(app, live,
                                                                          node_rp):
    seeded = seed_client(app, post_logout_redirect_uris=(AFTER_LOGOUT,))
    rp = node_rp(live, seeded, "client_secret_basic", postLogoutRedirectUri=AFTER_LOGOUT)
    browser = _sign_in_and_consent(rp, live, seeded)
    first = _check_tokens_userinfo_and_refresh(rp, live, seeded)
    end_session_endpoint = f"{live.url}/api/o/oauth/v2/logout"
    logout = rp.expect("logout")
    rp.expect("done")
    rp.finish()

    url = logout["url"]
    assert url.startswith(end_session_endpoint + "?"), url
    query = query_of(url)
    assert query["id_token_hint"] == [first["id_token"]]
    assert query["post_logout_redirect_uri"] == [AFTER_LOGOUT]
    assert query["state"] == [logout["state"]]
    assert query["client_id"] == [seeded.client_id]

    kept = Browser(live.url)  # the cookies as they are before the logout
    for cookie in browser.session.cookies:
        kept.session.cookies.set(cookie.name, cookie.value, domain=cookie.domain,
                                 path=cookie.path)
    assert browser.get("/profile").status_code == 200

    # The hint names the signed-in member: no confirmation, straight back with state.
    answer = browser.get(url)
    assert answer.status_code in (302, 303), (answer.status_code, answer.text[:300])
    back = answer.headers["Location"]
    assert back.split("?")[0] == AFTER_LOGOUT
    assert query_of(back)["state"] == [logout["state"]]
    assert urlsplit(back).netloc == "client.example"

    # The sign-in ended on the server: neither this browser nor a kept cookie is in.
    for person in (browser, kept):
        profile = person.get("/profile")
        assert profile.status_code == 302 and "/login" in profile.headers["Location"]
