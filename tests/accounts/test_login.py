"""/login over real HTTP: the form, failures and their audit, the session cookie, ``next``
and the rate limit (contract §2)."""

from __future__ import annotations

import json
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from sqlalchemy import select

from col_auth.core.models import AuditEvent
from col_auth.extensions import db
from tests.helpers import PASSWORD, Browser, csrf_token, seed

RATE_LIMITED = {"RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute"}


@pytest.fixture
def app_config(request) -> dict:
    """No overrides, unless a test asks for some with ``indirect`` parametrization."""
    return dict(getattr(request, "param", {}))


def _post_login(browser: Browser, username: str, password: str, path: str = "/login"):
    page = browser.get(path)
    assert page.status_code == 200
    return browser.post(path, data={"csrf_token": csrf_token(page.text),
                                    "username": username, "password": password})


def _events(app, name: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))
        db.session.expunge_all()
        return rows


def _set_cookies(response) -> list[str]:
    """Every raw ``Set-Cookie`` header of the response, as sent."""
    return response.raw.headers.getlist("Set-Cookie")


def _session_cookie(response) -> str:
    cookies = [c for c in _set_cookies(response) if c.startswith("col_auth_session=")]
    assert len(cookies) == 1, _set_cookies(response)
    return cookies[0]


def _attributes(cookie: str) -> dict[str, str]:
    attrs = {}
    for part in cookie.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        attrs[name.lower()] = value
    return attrs


def _logged_in_as(browser: Browser) -> str | None:
    page = browser.get("/profile")
    if page.status_code != 200:
        return None
    return page.text


def test_login_page_labels_and_button(app, live):
    page = Browser(live.url).get("/login")
    assert page.status_code == 200
    assert '<label for="username">Username</label>' in page.text
    assert '<label for="password">Password</label>' in page.text
    assert 'type="submit" value="Log in"' in page.text
    assert 'type="password"' in page.text
    assert csrf_token(page.text)


def test_login_succeeds_and_is_audited(app, live):
    s = seed(app)
    browser = Browser(live.url)
    response = _post_login(browser, "member", PASSWORD)
    assert response.status_code == 302
    assert "Morgan Member" in _logged_in_as(browser)
    assert [e.user_id for e in _events(app, "login")] == [s.member_id]


@pytest.mark.parametrize("username,password", [
    ("member", "wrong password"),
    ("member", PASSWORD.upper()),
    ("nobody", PASSWORD),
])
def test_wrong_credentials_are_400_and_audited(app, live, username, password):
    seed(app)
    browser = Browser(live.url)
    response = _post_login(browser, username, password)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Unknown username or wrong password." in response.text
    assert _logged_in_as(browser) is None
    failed = _events(app, "login_failed")
    assert len(failed) == 1
    assert failed[0].ip == "127.0.0.1"
    assert json.loads(failed[0].detail)["username"] == username
    assert password not in failed[0].detail, "the password tried is never recorded"
    assert _events(app, "login") == []


def test_login_without_csrf_is_refused(app, live):
    seed(app)
    browser = Browser(live.url)
    response = browser.post("/login", data={"username": "member", "password": PASSWORD})
    assert response.status_code == 400
    assert _logged_in_as(browser) is None


@pytest.mark.parametrize("username", ["MEMBER", "member", "mEmBeR", "ADMIN", "Admin"])
def test_username_is_case_insensitive(app, live, username):
    seed(app)
    browser = Browser(live.url)
    assert _post_login(browser, username, PASSWORD).status_code == 302
    expected = "Morgan Member" if username.lower() == "member" else "Alex Admin"
    assert expected in _logged_in_as(browser)


def test_session_cookie_is_httponly_and_samesite_lax(app, live):
    seed(app)
    browser = Browser(live.url)
    page = browser.get("/login")
    response = browser.post("/login", data={"csrf_token": csrf_token(page.text),
                                            "username": "member", "password": PASSWORD})
    assert response.status_code == 302
    for sent in (page, response):
        attrs = _attributes(_session_cookie(sent))
        assert "httponly" in attrs
        assert attrs.get("samesite", "").lower() == "lax"
        assert "secure" not in attrs, "the issuer is http here"
    for cookie in _set_cookies(response):
        attrs = _attributes(cookie)
        assert "httponly" in attrs and attrs.get("samesite", "").lower() == "lax", cookie


@pytest.mark.parametrize("app_config", [{"ISSUER": "https://auth.example"}], indirect=True)
def test_session_cookie_is_secure_when_the_issuer_is_https(app, live):
    attrs = _attributes(_session_cookie(Browser(live.url).get("/login")))
    assert "secure" in attrs and "httponly" in attrs
    assert attrs.get("samesite", "").lower() == "lax"


@pytest.mark.parametrize("target", [
    "//evil.example",
    "//evil.example/path",
    "https://evil.example",
    "https://evil.example/",
    "http:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "///evil.example",
    " //evil.example",
    "javascript:alert(1)",
])
def test_offsite_next_is_ignored(app, live, target):
    seed(app)
    browser = Browser(live.url)
    response = _post_login(browser, "member", PASSWORD, "/login?" + urlencode({"next": target}))
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "evil" not in location and "javascript" not in location
    resolved = urlsplit(urljoin(live.url + "/login", location))
    assert resolved.netloc == urlsplit(live.url).netloc
    assert resolved.path == "/"


def test_onsite_next_is_followed(app, live):
    seed(app)
    browser = Browser(live.url)
    response = _post_login(browser, "member", PASSWORD,
                           "/login?" + urlencode({"next": "/profile?tab=apps"}))
    assert response.status_code == 302
    assert response.headers["Location"] == "/profile?tab=apps"


@pytest.mark.parametrize("app_config", [RATE_LIMITED], indirect=True)
def test_login_posts_are_rate_limited(app, live):
    seed(app)
    browser = Browser(live.url)
    token = csrf_token(browser.get("/login").text)
    for _ in range(3):
        response = browser.post("/login", data={"csrf_token": token, "username": "member",
                                                "password": "wrong"})
        assert response.status_code == 400
    response = browser.post("/login", data={"csrf_token": token, "username": "member",
                                            "password": "wrong"})
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    # Even the right password is refused while the limit holds, and nobody is logged in.
    response = browser.post("/login", data={"csrf_token": token, "username": "member",
                                            "password": PASSWORD})
    assert response.status_code == 429
    assert _logged_in_as(browser) is None
    # Showing the page is not limited.
    assert browser.get("/login").status_code == 200
    assert len(_events(app, "login_failed")) == 3


@pytest.mark.parametrize("app_config", [{**RATE_LIMITED, "PROXY_FIX_HOPS": 1,
                                         "LOGIN_ADDRESS_RATE_LIMIT": "5 per minute"}],
                         indirect=True)
def test_rate_limit_counts_per_username_and_address_and_per_address(app, live):
    """Behind a proxy (X-Forwarded-For trusted): one username from one address is
    limited whatever its spelling, and one address trying many usernames is; one
    username tried from many addresses is not refused (README, "Sign-in limits")."""
    seed(app)
    browser = Browser(live.url)
    token = csrf_token(browser.get("/login").text)

    def attempt(username: str, address: str) -> int:
        return browser.post("/login", headers={"X-Forwarded-For": address},
                            data={"csrf_token": token, "username": username,
                                  "password": "wrong"}).status_code

    names = ("member", "MEMBER", "Member", "mEMBER")
    assert [attempt(n, "10.0.0.1") for n in names] == [400, 400, 400, 429]
    assert attempt("admin", "10.0.0.1") == 400, "another username from that address"
    assert [attempt("member", f"10.0.2.{i}") for i in range(6)] == [400] * 6
    users = ("admin", "outsider", "nobody1", "nobody2", "nobody3", "nobody4")
    assert [attempt(u, "10.0.1.1") for u in users] == [400] * 5 + [429]


def test_logout_ends_the_session(app, live):
    seed(app)
    browser = Browser(live.url)
    browser.login("member")
    assert _logged_in_as(browser) is not None
    assert browser.post("/logout").status_code == 400, "no logout without a CSRF token"
    assert _logged_in_as(browser) is not None
    response = browser.submit("/logout", {})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    assert _logged_in_as(browser) is None
