"""/auth/ over real HTTP: allow, cancel, site tokens, errors, and where redirects go."""

from __future__ import annotations

from urllib.parse import urlsplit

import jwt
import pytest
from jwcrypto import jwk
from jwcrypto import jwt as jwcrypto_jwt
from sqlalchemy import func, select

from col_auth.core.models import AuditEvent, Grant, Token
from col_auth.extensions import db
from tests.helpers import RETURN_URL, Browser, csrf_token, query_of, seed


def _decode(packet: str, secret: str) -> dict:
    return jwt.decode(packet, secret.encode(), algorithms=["HS256"])


def _consent(browser: Browser, app_token: str, token_type: str = "44"):
    path = f"/auth/?apptoken={app_token}&type={token_type}"
    page = browser.get(path)
    assert page.status_code == 200, page.text[:300]
    return path, page


def _decide(browser: Browser, app_token: str, token_type: str, button: str):
    path, page = _consent(browser, app_token, token_type)
    return browser.post("/auth/", data={"csrf_token": csrf_token(page.text),
                                        "apptoken": app_token, "type": token_type,
                                        button: button.capitalize()})


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_allow_returns_user_token_packet_to_return_url(app, live):
    s = seed(app)
    browser = Browser(live.url)
    browser.login("member")
    response = _decide(browser, s.app_token, "44", "allow")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("https://app.example/return?")
    query = query_of(location)
    assert query["keep"] == ["me"], "the Return URL's own query is kept"
    packet = query["jwt"][0]
    assert jwt.get_unverified_header(packet) == {"alg": "HS256", "typ": "JWT"}
    claims = _decode(packet, s.app_secret)
    assert set(claims) == {"iat", "jti", "token", "desc", "username", "userid"}
    assert isinstance(claims["iat"], int)
    assert claims["token"].startswith("{UserToken}")
    assert claims["desc"] == "Morgan Member"
    assert claims["username"] == "Member"
    assert claims["userid"] == s.member_id


def test_packet_verifies_with_independent_library(app, live):
    """jwcrypto, not PyJWT, checks the signature with the AppSecret."""
    s = seed(app)
    browser = Browser(live.url)
    browser.login("member")
    packet = query_of(_decide(browser, s.app_token, "44", "allow").headers["Location"])["jwt"][0]
    key = jwk.JWK.from_password(s.app_secret)
    verified = jwcrypto_jwt.JWT(jwt=packet, key=key, algs=["HS256"])
    import json

    assert json.loads(verified.claims)["userid"] == s.member_id
    wrong = jwk.JWK.from_password("{SecretKey}00000000-0000-0000-0000-000000000000")
    with pytest.raises(Exception):  # noqa: B017 - jwcrypto raises several kinds
        jwcrypto_jwt.JWT(jwt=packet, key=wrong, algs=["HS256"])


def test_cancel_returns_cancel_and_stores_nothing(app, live):
    s = seed(app)
    browser = Browser(live.url)
    browser.login("member")
    response = _decide(browser, s.app_token, "44", "cancel")
    assert response.status_code == 302
    query = query_of(response.headers["Location"])
    assert query == {"keep": ["me"], "cancel": ["1"]}
    assert _count(app, Grant) == 0
    assert _count(app, Token) == 0


def test_site_token_by_site_admin(app, live):
    s = seed(app)
    browser = Browser(live.url)
    browser.login("admin")
    path, page = _consent(browser, s.app_token, "1")
    assert "any user of Sample CU" in page.text
    assert "server-side code only" in page.text
    response = _decide(browser, s.app_token, "1", "allow")
    claims = _decode(query_of(response.headers["Location"])["jwt"][0], s.app_secret)
    assert set(claims) == {"iat", "jti", "token", "desc", "siteid", "username", "userid"}
    assert claims["token"].startswith("{SiteToken}")
    assert claims["desc"] == "Sample CU"
    assert claims["siteid"] == s.site_id


def test_site_token_refused_for_member(app, live):
    s = seed(app)
    browser = Browser(live.url)
    browser.login("member")
    response = browser.get(f"/auth/?apptoken={s.app_token}&type=1")
    assert response.status_code == 302
    claims = _decode(query_of(response.headers["Location"])["jwt"][0], s.app_secret)
    assert set(claims) == {"iat", "jti", "error"}
    assert claims["error"] == "site_admin_required"
    assert _count(app, Grant) == 0


def test_forged_allow_for_site_token_by_member_is_refused(app, live):
    """POSTing Allow directly does not skip the site-administrator check."""
    s = seed(app)
    browser = Browser(live.url)
    browser.login("member")
    _, page = _consent(browser, s.app_token, "44")
    response = browser.post("/auth/", data={"csrf_token": csrf_token(page.text),
                                            "apptoken": s.app_token, "type": "1",
                                            "allow": "Allow"})
    claims = _decode(query_of(response.headers["Location"])["jwt"][0], s.app_secret)
    assert claims["error"] == "site_admin_required"
    assert _count(app, Grant) == 0


def test_bad_type_redirects_error_packet_before_login(app, live):
    s = seed(app)
    response = Browser(live.url).get(f"/auth/?apptoken={s.app_token}&type=7")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(RETURN_URL + "&")
    assert _decode(query_of(location)["jwt"][0], s.app_secret)["error"] == "invalid_type"


@pytest.mark.parametrize("query", [
    "", "?apptoken=", "?apptoken=not-a-guid", "?apptoken=00000000-0000-0000-0000-000000000000",
    "?apptoken=%7BAppToken%7D00000000-0000-0000-0000-000000000000&type=44",
    "?apptoken=<script>alert(1)</script>",
])
def test_unknown_apptoken_is_400_page_without_redirect(app, live, query):
    seed(app)
    response = Browser(live.url).get("/auth/" + query)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "<script>alert" not in response.text
    assert "unknown_app" in response.text


def test_parameter_names_case_insensitive_and_prefixed_apptoken(app, live):
    s = seed(app)
    browser = Browser(live.url)
    browser.login("member")
    page = browser.get(f"/auth/?AppToken=%7BAppToken%7D{s.app_token.lower()}&TYPE=44")
    assert page.status_code == 200
    assert "Test App" in page.text


def test_type_defaults_to_user_token(app, live):
    s = seed(app)
    browser = Browser(live.url)
    browser.login("member")
    page = browser.get(f"/auth/?apptoken={s.app_token}")
    assert page.status_code == 200
    assert "User token" in page.text


def test_not_logged_in_goes_to_login_and_back(app, live):
    s = seed(app)
    browser = Browser(live.url)
    path = f"/auth/?apptoken={s.app_token}&type=44"
    response = browser.get(path)
    assert response.status_code == 302
    login_url = response.headers["Location"]
    assert urlsplit(login_url).path == "/login"
    page = browser.get(login_url)
    back = browser.post(login_url, data={"csrf_token": csrf_token(page.text),
                                         "username": "member",
                                         "password": "correct horse battery staple"})
    assert back.status_code == 302
    assert back.headers["Location"] == path
    assert browser.get(back.headers["Location"]).status_code == 200


def test_consent_page_cannot_be_framed_and_has_csrf(app, live):
    s = seed(app, privacy_url="https://app.example/privacy")
    browser = Browser(live.url)
    browser.login("member")
    _, page = _consent(browser, s.app_token)
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    assert csrf_token(page.text)
    assert "View Privacy Policy" in page.text
    assert 'href="https://app.example/privacy"' in page.text


def test_privacy_link_absent_without_privacy_url(app, live):
    s = seed(app)
    browser = Browser(live.url)
    browser.login("member")
    _, page = _consent(browser, s.app_token)
    assert "View Privacy Policy" not in page.text


def test_allow_without_csrf_is_refused_and_stores_nothing(app, live):
    s = seed(app)
    browser = Browser(live.url)
    browser.login("member")
    response = browser.post("/auth/", data={"apptoken": s.app_token, "type": "44",
                                            "allow": "Allow"})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert _count(app, Grant) == 0


def test_each_allow_creates_a_new_token(app, live):
    s = seed(app)
    browser = Browser(live.url)
    browser.login("member")
    tokens = set()
    for _ in range(2):
        response = _decide(browser, s.app_token, "44", "allow")
        tokens.add(_decode(query_of(response.headers["Location"])["jwt"][0],
                           s.app_secret)["token"])
    assert len(tokens) == 2
    assert _count(app, Token) == 2


def test_redirects_only_ever_go_to_the_return_url(app, live):
    """Whatever the request says, every redirect out of /auth goes to the Return URL."""
    s = seed(app)
    browser = Browser(live.url)
    browser.login("member")
    attempts = [
        f"/auth/?apptoken={s.app_token}&type=9&return_url=https://evil.example/",
        f"/auth/?apptoken={s.app_token}&type=1&redirect_uri=https://evil.example/",
    ]
    for path in attempts:
        response = browser.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith(RETURN_URL + "&"), path
    _, page = _consent(browser, s.app_token)
    response = browser.post("/auth/?return_url=https://evil.example/", data={
        "csrf_token": csrf_token(page.text), "apptoken": s.app_token, "type": "44",
        "allow": "Allow", "return_url": "https://evil.example/"})
    assert response.headers["Location"].startswith(RETURN_URL + "&")


def test_grant_cancel_and_refusal_are_audited(app, live):
    s = seed(app)
    browser = Browser(live.url)
    browser.login("member")
    _decide(browser, s.app_token, "44", "allow")
    _decide(browser, s.app_token, "44", "cancel")
    browser.get(f"/auth/?apptoken={s.app_token}&type=1")
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent.event)))
    for event in ("login", "legacy_granted", "legacy_cancelled", "legacy_refused"):
        assert event in events
