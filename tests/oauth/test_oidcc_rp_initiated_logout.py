"""OpenID Connect RP-Initiated Logout 1.0 over HTTP: the end_session_endpoint
(after the conformance suite's ``oidcc-rp-initiated-logout*`` modules).

A client sends the signed-in user to the endpoint with its id_token as the hint and
a registered post-logout redirect URI; the sign-in ends on the server (a kept
cookie opens nothing) and the user goes back with ``state``. Without a hint that
names the signed-in user, a confirmation page comes first, and its POST needs
its CSRF token. Forged hints, another client's hint and unregistered URIs are
refused or not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select

from col_auth.core import oauth_clients
from col_auth.core.models import AuditEvent, OAuthClient
from col_auth.core.signing_keys import active_key
from col_auth.extensions import db
from tests.helpers import Browser, csrf_token, query_of
from tests.oauth.support import OAuthSeed, authorize_url, consent, seed_client

LOGOUT_PATH = "/api/o/oauth/v2/logout"
TOKEN_PATH = "/api/o/oauth/v2/token"
AFTER_LOGOUT = "https://client.example/signed-out"
ELSEWHERE = "https://client.example/elsewhere"


@pytest.fixture
def seeded(app) -> OAuthSeed:
    return seed_client(app, post_logout_redirect_uris=(AFTER_LOGOUT, ELSEWHERE))


def _signed_in_with_id_token(live, seeded: OAuthSeed, username: str = "member",
                             browser: Browser | None = None) -> tuple[Browser, str]:
    """A browser signed in at col_auth, and the id_token its client got."""
    if browser is None:
        browser = Browser(live.url)
        browser.login(username)
    response = consent(browser, authorize_url(live.url, seeded.client_id, seeded.redirect_uri,
                                              scope="openid", nonce="n-1"))
    code = query_of(response.headers["Location"])["code"][0]
    tokens = requests.post(live.url + TOKEN_PATH, timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": seeded.redirect_uri,
        "client_id": seeded.client_id, "client_secret": seeded.client_secret})
    assert tokens.status_code == 200, tokens.text
    return browser, tokens.json()["id_token"]


def _signed_in(browser: Browser) -> bool:
    return browser.get("/profile").status_code == 200


def _kept_cookie(browser: Browser) -> Browser:
    """Another browser holding a copy of ``browser``'s cookies as they are now."""
    copy = Browser(browser.base)
    for cookie in browser.session.cookies:
        copy.session.cookies.set(cookie.name, cookie.value, domain=cookie.domain,
                                 path=cookie.path)
    return copy


def _events(app, event: str) -> list[AuditEvent]:
    with app.app_context():
        try:
            return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == event)))
        finally:
            db.session.remove()


def _confirm(browser: Browser, page: requests.Response) -> requests.Response:
    """Press "Sign out" on the confirmation page, with what its form carries."""
    assert page.status_code == 200, (page.status_code, page.text[:400])
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">',
                             page.text))
    data = {k: html.unescape(v) for k, v in hidden.items()}
    data["csrf_token"] = csrf_token(page.text)
    data["submit"] = "Sign out"
    return browser.post(LOGOUT_PATH, data=data)


def test_discovery_lists_the_end_session_endpoint(app, live):
    document = requests.get(live.url + "/.well-known/openid-configuration", timeout=10).json()
    assert document["end_session_endpoint"] == live.url + LOGOUT_PATH


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_hint_and_registered_uri_sign_out_and_redirect_with_state(app, live, seeded, method):
    browser, id_token = _signed_in_with_id_token(live, seeded)
    kept = _kept_cookie(browser)
    params = {"id_token_hint": id_token, "post_logout_redirect_uri": AFTER_LOGOUT,
              "state": "bye & back", "ui_locales": "en", "logout_hint": "member"}
    if method == "GET":
        response = browser.get(LOGOUT_PATH, params=params)
    else:  # §2: form-serialized POST
        response = browser.post(LOGOUT_PATH, data=params)

    assert response.status_code == 302, response.text[:400]
    location = response.headers["Location"]
    assert location.startswith(AFTER_LOGOUT + "?")
    assert query_of(location) == {"state": ["bye & back"]}
    assert response.headers["Cache-Control"] == "no-store"
    assert not _signed_in(browser)
    assert not _signed_in(kept), "a kept copy of the cookie must open nothing"
    [event] = _events(app, "oidc_logout")
    assert event.user_id == seeded.legacy.member_id
    assert json.loads(event.detail)["client_id"] == seeded.client_id


def test_client_id_with_its_own_hint_and_no_state_redirects_without_one(app, live, seeded):
    browser, id_token = _signed_in_with_id_token(live, seeded)
    response = browser.get(LOGOUT_PATH, params={
        "id_token_hint": id_token, "client_id": seeded.client_id,
        "post_logout_redirect_uri": ELSEWHERE})
    assert response.status_code == 302
    assert response.headers["Location"] == ELSEWHERE
    assert not _signed_in(browser)


@pytest.mark.parametrize("uri", [
    "https://evil.example/signed-out",
    AFTER_LOGOUT + "/",
    AFTER_LOGOUT + "?next=https://evil.example",
    "https://CLIENT.EXAMPLE/signed-out",
    "https://client.example:443/signed-out",
    "https://client.example@evil.example/signed-out",
    "https://client.example/callback",  # a redirect_uri, not a post-logout one
])
def test_unregistered_uri_is_never_redirected_to(app, live, seeded, uri):
    browser, id_token = _signed_in_with_id_token(live, seeded)
    response = browser.get(LOGOUT_PATH, params={
        "id_token_hint": id_token, "post_logout_redirect_uri": uri, "state": "s"})
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "You are signed out" in response.text
    assert "not registered" in response.text
    assert not _signed_in(browser)


def test_uri_without_a_client_to_check_it_against_is_not_followed(app, live, seeded):
    browser = Browser(live.url)
    browser.login("member")
    page = browser.get(LOGOUT_PATH, params={"post_logout_redirect_uri": AFTER_LOGOUT})
    response = _confirm(browser, page)
    assert response.status_code == 200 and "Location" not in response.headers
    assert "did not say which application sent it" in response.text
    assert not _signed_in(browser)


def _forged(app, claims: dict, *, key=None, algorithm: str = "RS256",
            kid: str | None = None) -> str:
    with app.app_context():
        ours = active_key()
        return jwt.encode(claims, key if key is not None else ours.private_key,
                          algorithm=algorithm, headers={"kid": kid or ours.kid})


def _other_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("forgery", ["other_key_our_kid", "other_issuer", "tampered",
                                     "alg_none", "hs256_with_public_key", "garbage"])
def test_forged_hint_is_refused_and_nothing_ends(app, live, seeded, forgery):
    browser, id_token = _signed_in_with_id_token(live, seeded)
    claims = jwt.decode(id_token, options={"verify_signature": False})
    if forgery == "other_key_our_kid":
        hint = _forged(app, claims, key=_other_rsa_key())
    elif forgery == "other_issuer":
        hint = _forged(app, {**claims, "iss": "https://evil.example"})
    elif forgery == "tampered":
        head, _payload, signature = id_token.split(".")
        payload = jwt.utils.base64url_encode(json.dumps(
            {**claims, "sub": seeded.legacy.admin_id}).encode()).decode()
        hint = f"{head}.{payload}.{signature}"
    elif forgery == "alg_none":
        hint = jwt.encode(claims, None, algorithm="none")
    elif forgery == "hs256_with_public_key":
        # Algorithm confusion: the public key used as an HMAC secret (PyJWT itself
        # refuses to build this, so it is built by hand).
        with app.app_context():
            public_pem = active_key().private_key.public_key().public_bytes(
                Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        signing_input = b".".join(jwt.utils.base64url_encode(json.dumps(part).encode())
                                  for part in ({"alg": "HS256", "typ": "JWT"}, claims))
        signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
        hint = (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()
    else:
        hint = "not.a.jwt"
    response = browser.get(LOGOUT_PATH, params={
        "id_token_hint": hint, "post_logout_redirect_uri": AFTER_LOGOUT, "state": "s"})
    assert response.status_code == 400, response.text[:300]
    assert "Location" not in response.headers
    assert "invalid_id_token_hint" in response.text
    assert _signed_in(browser), "a forged hint must not sign anyone out"
    assert _events(app, "oidc_logout_refused")


def test_client_id_that_is_not_the_hints_audience_is_refused(app, live, seeded):
    with app.app_context():
        template = db.session.scalar(select(OAuthClient).where(
            OAuthClient.client_id == seeded.client_id)).template
        other, _ = oauth_clients.create_client(
            template, name="Other client", redirect_uris=["https://other.example/cb"],
            post_logout_redirect_uris=["https://other.example/bye"])
        other_id = other.client_id
        db.session.commit()
    browser, id_token = _signed_in_with_id_token(live, seeded)
    response = browser.get(LOGOUT_PATH, params={
        "id_token_hint": id_token, "client_id": other_id,
        "post_logout_redirect_uri": "https://other.example/bye"})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "not the one the id_token_hint was issued to" in response.text
    assert _signed_in(browser)


def test_expired_hint_is_accepted(app, live, seeded, clock):
    browser, id_token = _signed_in_with_id_token(live, seeded)
    clock.advance(app.config["ID_TOKEN_TTL"] + 60)
    exp = jwt.decode(id_token, options={"verify_signature": False})["exp"]
    assert exp < clock().timestamp() and exp < time.time() + app.config["ID_TOKEN_TTL"]
    response = browser.get(LOGOUT_PATH, params={
        "id_token_hint": id_token, "post_logout_redirect_uri": AFTER_LOGOUT, "state": "s"})
    assert response.status_code == 302
    assert response.headers["Location"] == AFTER_LOGOUT + "?state=s"
    assert not _signed_in(browser)


def test_without_a_hint_a_confirmation_comes_first(app, live, seeded):
    browser = Browser(live.url)
    browser.login("member")
    kept = _kept_cookie(browser)
    page = browser.get(LOGOUT_PATH, params={
        "client_id": seeded.client_id, "post_logout_redirect_uri": AFTER_LOGOUT,
        "state": "s-1"})
    assert page.status_code == 200
    assert "Sign out of col_auth?" in page.text and "Sample client" in page.text
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert _signed_in(browser), "asking must not sign out"

    # The confirmation's POST without its CSRF token (a page on another site) ends nothing.
    forged = browser.post(LOGOUT_PATH, data={
        "submit": "Sign out", "client_id": seeded.client_id,
        "post_logout_redirect_uri": AFTER_LOGOUT})
    assert forged.status_code == 400 and "csrf_failed" in forged.text
    assert _signed_in(browser)

    response = _confirm(browser, page)
    assert response.status_code == 302
    assert response.headers["Location"] == AFTER_LOGOUT + "?state=s-1"
    assert not _signed_in(browser)
    assert not _signed_in(kept)
    [event] = _events(app, "oidc_logout")
    assert json.loads(event.detail)["confirmed"] is True


def test_a_client_post_without_hint_only_asks(app, live, seeded):
    """A logout request sent by a form POST (§2) is not the confirmation: it asks."""
    browser = Browser(live.url)
    browser.login("member")
    page = browser.post(LOGOUT_PATH, data={"client_id": seeded.client_id,
                                           "post_logout_redirect_uri": AFTER_LOGOUT})
    assert page.status_code == 200 and "Sign out of col_auth?" in page.text
    assert _signed_in(browser)
    assert _confirm(browser, page).status_code == 302
    assert not _signed_in(browser)


def test_hint_naming_another_user_asks_first(app, live, seeded):
    _, members_token = _signed_in_with_id_token(live, seeded, "member")
    admin = Browser(live.url)
    admin.login("admin")
    page = admin.get(LOGOUT_PATH, params={"id_token_hint": members_token,
                                          "post_logout_redirect_uri": AFTER_LOGOUT})
    assert page.status_code == 200 and "Sign out of col_auth?" in page.text
    assert _signed_in(admin)
    response = _confirm(admin, page)
    assert response.status_code == 302 and response.headers["Location"] == AFTER_LOGOUT
    assert not _signed_in(admin)


def test_nobody_signed_in_with_a_hint_is_sent_back(app, live, seeded):
    browser, id_token = _signed_in_with_id_token(live, seeded)
    params = {"id_token_hint": id_token, "post_logout_redirect_uri": AFTER_LOGOUT,
              "state": "again"}
    assert browser.get(LOGOUT_PATH, params=params).status_code == 302
    again = Browser(live.url).get(LOGOUT_PATH, params=params)
    assert again.status_code == 302
    assert again.headers["Location"] == AFTER_LOGOUT + "?state=again"


def test_without_parameters_it_asks_then_shows_the_signed_out_page(app, live, seeded):
    browser = Browser(live.url)
    browser.login("member")
    response = _confirm(browser, browser.get(LOGOUT_PATH))
    assert response.status_code == 200 and "You are signed out" in response.text
    assert "not-redirected" not in response.text
    assert not _signed_in(browser)


def test_disabled_client_is_not_redirected_to(app, live, seeded):
    browser, id_token = _signed_in_with_id_token(live, seeded)
    with app.app_context():
        client = db.session.scalar(select(OAuthClient).where(
            OAuthClient.client_id == seeded.client_id))
        oauth_clients.set_module_enabled(client.template.external_app.module, False)
        db.session.commit()
    response = browser.get(LOGOUT_PATH, params={
        "id_token_hint": id_token, "post_logout_redirect_uri": AFTER_LOGOUT})
    assert response.status_code == 200 and "Location" not in response.headers
    assert "expired or disabled" in response.text
    assert not _signed_in(browser)


def test_repeated_parameter_is_refused(app, live, seeded):
    browser, id_token = _signed_in_with_id_token(live, seeded)
    response = browser.get(LOGOUT_PATH + "?" + "&".join([
        f"id_token_hint={id_token}", f"post_logout_redirect_uri={AFTER_LOGOUT}",
        "post_logout_redirect_uri=https://evil.example/"]))
    assert response.status_code == 400 and "Location" not in response.headers
    assert _signed_in(browser)
