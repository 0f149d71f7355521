"""Security checks across every route: open redirects on both faces, CSRF on every
form POST, framing headers on every HTML page, cookie flags, rate limits shared by
two gunicorn workers through Redis, and a database dump holding no usable secret.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import socket
import subprocess
import time
from urllib.parse import quote, urlencode, urljoin, urlsplit

import pytest
import redis
import requests
import sqlalchemy as sa
from sqlalchemy import func, select

from col_auth import create_app
from col_auth.client import LegacyClient
from col_auth.core import legacy_apps, legacy_tokens
from col_auth.core.crypto import token_hash
from col_auth.core.models import (
    GRANT_SITE_TOKEN,
    GRANT_USER_TOKEN,
    Grant,
    LegacyApp,
    Module,
    OAuthClient,
    User,
)
from col_auth.core.text import is_storable
from col_auth.database import upgrade_database
from col_auth.extensions import db
from tests.helpers import PASSWORD, RETURN_URL, Browser, csrf_token, query_of, seed
from tests.oauth.support import REDIRECT_URI, authorize_url, consent, seed_client
from tests.robustness.conftest import CHEAP_HASH, clean, dispose, seeding_app
from tests.robustness.support import exchange, refresh

CSRF_MESSAGE = "did not come from this site"

# --- a world with one of everything, and a test client that logs in -------------------


class World:
    def __init__(self, app) -> None:
        self.app = app
        seeded = seed_client(app)
        self.oauth = seeded
        self.legacy = seeded.legacy
        with app.app_context():
            admin = db.session.get(User, self.legacy.admin_id)
            legacy_app = db.session.scalar(select(LegacyApp).where(
                LegacyApp.app_token == self.legacy.app_token))
            user_grant, _ = legacy_tokens.issue_legacy_token(admin, legacy_app, GRANT_USER_TOKEN)
            site_grant, _ = legacy_tokens.issue_legacy_token(admin, legacy_app, GRANT_SITE_TOKEN)
            client = db.session.scalar(select(OAuthClient).where(
                OAuthClient.client_id == seeded.client_id))
            self.module_id = client.template.external_app.module_id
            self.template_id = client.template.id
            self.user_grant_id, self.site_grant_id = user_grant.id, site_grant.id
            db.session.commit()
            db.session.remove()

    def url_args(self, endpoint: str) -> dict[str, str]:
        """Real values for every URL argument of ``endpoint``."""
        return {
            "module_id": self.module_id,
            "client_id": self.oauth.client_id,
            "app_token": self.legacy.app_token,
            "grant_id": (self.site_grant_id if endpoint == "accounts.revoke_site_token"
                         else self.user_grant_id),
            "filename": "col_auth.css",
            "rest": f"client_id={self.oauth.client_id}&redirect_uri={REDIRECT_URI}",
        }

    def state(self) -> dict:
        """What a forged POST could change."""
        with self.app.app_context():
            try:
                legacy_app = db.session.scalar(select(LegacyApp).where(
                    LegacyApp.app_token == self.legacy.app_token))
                return {
                    "apps": db.session.scalar(select(func.count()).select_from(LegacyApp)),
                    "secret": legacy_apps.app_secret(legacy_app) if legacy_app else None,
                    "modules": db.session.scalar(select(func.count()).select_from(Module)),
                    "enabled": db.session.get(Module, self.module_id).enabled,
                    "clients": db.session.scalar(select(func.count()).select_from(OAuthClient)),
                    "revoked": db.session.scalar(select(func.count()).select_from(Grant)
                                                 .where(Grant.revoked_at.is_not(None))),
                    "details": db.session.scalar(select(func.count()).select_from(User)
                                                 .where(User.updated_at.is_not(None))),
                }
            finally:
                db.session.remove()


@pytest.fixture
def world(app) -> World:
    return World(app)


def login(client, username: str = "admin", **kwargs):
    page = client.get("/login", **kwargs)
    token = csrf_token(page.get_data(as_text=True))
    response = client.post("/login", data={"csrf_token": token, "username": username,
                                           "password": PASSWORD}, **kwargs)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return response


def page_token(client, path: str = "/logout") -> str:
    return csrf_token(client.get(path).get_data(as_text=True))


# --- open redirects: where a browser would really go ------------------------------------


def browser_target(base: str, location: str) -> str:
    """The host a browser goes to for ``Location: location`` (WHATWG: tabs and newlines
    dropped, backslashes read as slashes in http(s) URLs)."""
    cleaned = re.sub(r"[\t\n\r]", "", location).strip().replace("\\", "/")
    return (urlsplit(urljoin(base, cleaned)).hostname or "").lower()


# Registered: https://client.example/callback (exact string match).
REDIRECT_URI_LOOK_ALIKES = [
    "https://client.example@evil.example/callback",
    "https://client.example:443@evil.example/callback",
    "https://client.example/callback@evil.example",
    "https://evil.example/callback",
    "https://client.example.evil.example/callback",
    "https://evil.example/https://client.example/callback",
    "https://client.example/callback/../../evil",
    "https://client.example/callback%2F%2Fevil.example",
    "https://client.example%2F%2Fevil.example/callback",
    "https://client.example%40evil.example/callback",
    "https://client.example\\@evil.example/callback",
    "https://client.example/callback\\..\\..\\evil.example",
    "https:\\\\evil.example/callback",
    "//evil.example/callback",
    "/\\evil.example/callback",
    "https:evil.example/callback",
    "https:/evil.example/callback",
    "https://client.example/callback?next=https://evil.example",
    "https://client.example/callback#@evil.example",
    "https://CLIENT.EXAMPLE/callback",
    "https://client.example:443/callback",
    "https://client.example/callback/",
    "http://client.example/callback",
    " https://client.example/callback",
    "https://client.example/callback ",
    "https://client.example/callback%00",
    "https://client.example/callback\n",
    "https://client.\u0435xample/callback",  # Cyrillic e
    "javascript://client.example/callback%0aalert(1)",
]


@pytest.mark.parametrize("logged_in", [False, True])
def test_authorize_never_redirects_to_a_look_alike_redirect_uri(app, world, logged_in):
    client = app.test_client()
    if logged_in:
        login(client, "member")
    for look_alike in REDIRECT_URI_LOOK_ALIKES:
        # Even with a second error that would otherwise be sent back to the client.
        for extra in ({}, {"response_type": "token"}, {"scope": "everything"}):
            url = authorize_url("", world.oauth.client_id, look_alike, **extra)
            response = client.get(url)
            assert response.status_code == 400, (look_alike, extra, response.status_code)
            assert "Location" not in response.headers, (look_alike, response.headers)
        # The seed documents' spelling is only ever sent on to our own path.
        misspelt = client.get("/api/o/oauth/v2/authorize/" + urlencode(
            {"client_id": world.oauth.client_id, "redirect_uri": look_alike}))
        if misspelt.status_code == 302:
            assert misspelt.headers["Location"].startswith("/api/o/oauth/v2/authorize?")
            assert client.get(misspelt.headers["Location"]).status_code == 400
        else:  # a newline in a path is refused where it enters (web.boundary)
            assert misspelt.status_code == 400 and "Location" not in misspelt.headers


def test_authorize_consent_post_cannot_swap_the_redirect_uri(app, world):
    client = app.test_client()
    login(client, "member")
    page = client.get(authorize_url("", world.oauth.client_id, REDIRECT_URI))
    token = csrf_token(page.get_data(as_text=True))
    for look_alike in REDIRECT_URI_LOOK_ALIKES[:12]:
        response = client.post("/api/o/oauth/v2/authorize", data={
            "csrf_token": token, "client_id": world.oauth.client_id,
            "redirect_uri": look_alike, "response_type": "code", "state": "s",
            "allow": "Allow"})
        assert response.status_code == 400 and "Location" not in response.headers, look_alike


RETURN_URL_LOOK_ALIKES = [
    "https://app.example@evil.example/return",
    "https://app.example:443@evil.example/return",
    "https://app.example\\@evil.example/return",
    "https://app.example%2F%2Fevil.example/return",
    "https://app.example%40evil.example/return",
    "https://evil%2Eexample/return",
    "https:\\\\evil.example/return",
    "https:evil.example/return",
    "https:/evil.example/return",
    "//evil.example/return",
    "/\\evil.example/return",
    "/return",
    "javascript:alert(document.domain)//https://app.example/",
    "data:text/html,<script>alert(1)</script>",
    "ftp://app.example/return",
    "https://app.example/re turn",
    "https://app.example/return\x00",
]


def test_registration_refuses_return_url_and_redirect_uri_look_alikes(app, world):
    client = app.test_client()
    login(client, "admin")
    before = world.state()
    for look_alike in RETURN_URL_LOOK_ALIKES:
        for path, name in (("/developer/add", "Look-alike"),
                           (f"/developer/{world.legacy.app_token}/edit", "Test App")):
            response = client.post(path, data={
                "csrf_token": page_token(client, "/developer/add"), "name": name,
                "return_url": look_alike, "privacy_url": ""})
            assert response.status_code == 400, (path, look_alike, response.status_code)
    for look_alike in REDIRECT_URI_LOOK_ALIKES + RETURN_URL_LOOK_ALIKES:
        response = client.post(f"/admin/modules/{world.module_id}/clients", data={
            "csrf_token": page_token(client, f"/admin/modules/{world.module_id}"),
            "name": "Look-alike client", "template": world.template_id,
            "redirect_uri": look_alike})
        # Exact-string look-alikes of a registered URI may be registrable in their
        # own right (a different https URL); those with user info, backslashes,
        # encoded host characters or no https host are not.
        if response.status_code != 400:
            parts = urlsplit(look_alike)
            assert parts.scheme == "https" and "@" not in parts.netloc, look_alike
            assert "\\" not in look_alike and "%" not in parts.netloc, look_alike
    with app.app_context():
        stored = db.session.scalar(select(LegacyApp).where(
            LegacyApp.app_token == world.legacy.app_token))
        assert stored.return_url == RETURN_URL
        assert world.state()["apps"] == before["apps"]
        for stored_client in db.session.scalars(select(OAuthClient)):
            for uri in stored_client.redirect_uri_list:
                netloc = urlsplit(uri).netloc
                assert "@" not in netloc and "%" not in netloc and "\\" not in uri, uri
        db.session.remove()


def test_auth_only_ever_redirects_to_the_registered_return_url(app, world):
    client = app.test_client()
    tricks = {"return_url": "https://evil.example/", "ReturnUrl": "//evil.example",
              "redirect_uri": "https://evil.example/", "next": "//evil.example"}
    # A bad type, before any login: an error packet to the registered Return URL.
    for bad_type in ("2", "x", "1x", "44;https://evil.example", "%2F%2Fevil.example",
                     "//evil.example"):
        response = client.get("/auth/?" + urlencode(
            {"apptoken": world.legacy.app_token, "type": bad_type, **tricks}))
        assert response.status_code == 302, (bad_type, response.status_code)
        location = response.headers["Location"]
        assert location.startswith(RETURN_URL + "&jwt="), location
    # Unknown AppTokens, however spelled: a 400 page, never a redirect.
    for app_token in ("https://evil.example/", "//evil.example", "{AppToken}//evil.example",
                      "00000000-0000-0000-0000-000000000000", world.legacy.app_token + "x"):
        response = client.get("/auth/?" + urlencode({"apptoken": app_token, "type": "44",
                                                     **tricks}))
        assert response.status_code == 400 and "Location" not in response.headers, app_token
    # Logged in: site token refused, Allow and Cancel all go to the registered URL.
    login(client, "member")
    response = client.get("/auth/?" + urlencode({"apptoken": world.legacy.app_token,
                                                 "type": "1", **tricks}))
    assert response.headers["Location"].startswith(RETURN_URL + "&jwt=")
    for button in ("allow", "cancel"):
        page = client.get("/auth/?" + urlencode({"apptoken": world.legacy.app_token,
                                                 "type": "44"}))
        response = client.post("/auth/", data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "apptoken": world.legacy.app_token, "type": "44", button: button.title(),
            **tricks})
        location = response.headers["Location"]
        assert location.startswith(RETURN_URL + "&"), location
        assert browser_target("https://col.example/", location) == "app.example"


NEXT_TRICKS = [
    "//evil.example", "///evil.example", "////evil.example", "/\\evil.example",
    "\\\\evil.example", "\\/evil.example", "/\t/evil.example", "/\n/evil.example",
    "/\r\n/evil.example", " //evil.example", "https:evil.example", "https:/evil.example",
    "https://evil.example", "http://evil.example/", "HTTPS://evil.example",
    "javascript:alert(1)", "%2F%2Fevil.example", "/%2F/evil.example", "/%5Cevil.example",
    "%5C%5Cevil.example", "//evil.example/%2F..", "/login/..//evil.example",
    "https://localhost@evil.example/", "@evil.example", "evil.example",
]


@pytest.mark.parametrize("base", ["http://localhost", "http://127.0.0.1:5000"])
def test_login_next_never_leaves_the_site(app, world, base):
    for trick in NEXT_TRICKS:
        client = app.test_client()
        page = client.get("/login?" + urlencode({"next": trick}), base_url=base)
        if not is_storable(trick):
            # Refused where it enters (web.boundary): no page, and no redirect at all.
            assert page.status_code == 400 and "Location" not in page.headers, trick
            continue
        response = client.post("/login?" + urlencode({"next": trick}), base_url=base, data={
            "csrf_token": csrf_token(page.get_data(as_text=True)), "username": "member",
            "password": PASSWORD})
        assert response.status_code == 302, (trick, response.status_code)
        location = response.headers["Location"]
        host = urlsplit(base).hostname
        assert browser_target(base + "/login", location) == host, (trick, location)
    # The raw query, encoded by hand (no client normalisation in between).
    for raw in ("%2F%2Fevil.example", "%2F%5Cevil.example", "https%3Aevil.example",
                "%5C%5Cevil.example"):
        client = app.test_client()
        page = client.get(f"/login?next={raw}")
        response = client.post(f"/login?next={raw}", data={
            "csrf_token": csrf_token(page.get_data(as_text=True)), "username": "member",
            "password": PASSWORD})
        assert browser_target("http://localhost/login", response.headers["Location"]) \
            == "localhost", raw


# --- CSRF on every form POST ------------------------------------------------------------

# What a forged form would ask for at each route, if it were let through.
FORGED = {
    "accounts.login": {"username": "admin", "password": PASSWORD},
    "accounts.logout": {},
    "accounts.revoke_connection": {},
    "accounts.revoke_site_token": {},
    "accounts.sign_out_everywhere": {},
    "accounts.change_password": {"current_password": PASSWORD, "new_password": "forged pass",
                                 "confirm_password": "forged pass"},
    "accounts.profile_details": {"given_name": "Forged", "phone_number": "+1 555 0100"},
    "legacy.add_app": {"name": "Forged", "return_url": "https://forged.example/"},
    "legacy.edit_app": {"name": "Forged", "return_url": "https://forged.example/"},
    "legacy.delete_app": {},
    "legacy.regenerate_secret": {},
    "legacy.authorize": {"type": "44", "allow": "Allow"},
    "admin.modules": {"name": "Forged module"},
    "admin.module_state": {"disable": "Disable"},
    "admin.external_app": {"enabled": ""},
    "admin.create_template": {"name": "Forged", "scopes": "api"},
    "admin.create_client": {"name": "Forged", "redirect_uri": "https://forged.example/cb"},
    "admin.delete_client": {},
    "oauth.authorize": {"response_type": "code", "allow": "Allow"},
    # The logout confirmation ("Sign out" pressed); a client's own logout request by
    # POST carries no token of ours and only ever gets that page, or needs a hint.
    "oauth_logout.end_session": {"submit": "Sign out"},
}
# Pages under /api whose POST is a form of ours; the other /api routes are JSON or
# authenticated by client or token, never by cookie.
API_FORM_POSTS = {"oauth.authorize", "oauth_logout.end_session"}


def _form_post_routes(app) -> dict[str, str]:
    """endpoint -> rule of every POST route outside /api, and the forms under /api."""
    routes = {}
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        if rule.rule.startswith("/api/") and rule.endpoint not in API_FORM_POSTS:
            continue
        routes.setdefault(rule.endpoint, rule.rule)
    return routes


def test_every_form_post_route_refuses_a_missing_or_wrong_csrf_token(app, world):
    routes = _form_post_routes(app)
    assert set(routes) == set(FORGED), "a new form route: add it to FORGED"
    other = app.test_client()
    login(other, "member")
    foreign_token = page_token(other)  # valid, but of another session
    client = app.test_client()
    login(client, "admin")
    before = world.state()
    tried = 0
    for endpoint, rule in sorted(routes.items()):
        path = rule
        for name, value in world.url_args(endpoint).items():
            path = path.replace(f"<{name}>", value).replace(f"<path:{name}>", value)
        data = dict(FORGED[endpoint])
        if endpoint == "legacy.authorize":
            data["apptoken"] = world.legacy.app_token
        if endpoint == "oauth.authorize":
            data.update(client_id=world.oauth.client_id, redirect_uri=REDIRECT_URI)
        if endpoint == "admin.create_client":
            data["template"] = world.template_id
        for token in (None, "", "not-a-token", foreign_token, foreign_token[:-2] + "xx"):
            sent = dict(data) if token is None else {**data, "csrf_token": token}
            response = client.post(path, data=sent)
            body = response.get_data(as_text=True)
            assert response.status_code == 400, (endpoint, token, response.status_code)
            assert CSRF_MESSAGE in body and "csrf_failed" in body, (endpoint, body[:300])
            tried += 1
    assert tried == len(routes) * 5
    assert world.state() == before, "a forged POST changed something"
    assert client.get("/profile").status_code == 200, "a forged POST logged the user out"


# --- framing headers on every HTML page -------------------------------------------------


def _get_routes(app) -> dict[str, str]:
    return {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()
            if "GET" in rule.methods}


def _assert_not_frameable(response, what) -> None:
    assert response.headers.get("X-Frame-Options") == "DENY", what
    policy = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy, (what, policy)


def test_every_html_page_refuses_to_be_framed(app, world):
    paths = []
    for endpoint, rule in sorted(_get_routes(app).items()):
        path = rule
        for name, value in world.url_args(endpoint).items():
            path = path.replace(f"<{name}>", value).replace(f"<path:{name}>", value)
        assert "<" not in path, f"no value for an argument of {rule}"
        paths.append(path)
    paths += [
        "/auth/?" + urlencode({"apptoken": world.legacy.app_token, "type": "44"}),
        "/auth/?" + urlencode({"apptoken": world.legacy.app_token, "type": "1"}),
        "/auth/?apptoken=unknown",
        authorize_url("", world.oauth.client_id, REDIRECT_URI),
        authorize_url("", world.oauth.client_id, "https://evil.example/"),
        "/login?next=/profile", "/no/such/page", "/admin/modules/nope",
        f"/developer/{world.legacy.app_token}/edit",
    ]
    html_pages = 0
    for username in (None, "member", "admin"):
        client = app.test_client()
        if username:
            login(client, username)
        for path in paths:
            response = client.get(path)
            _assert_not_frameable(response, (username, path, response.status_code))
            if response.mimetype == "text/html":
                html_pages += 1
                assert response.status_code < 500, (path, response.status_code)
        for method in ("put", "delete", "patch"):  # 405 pages too
            response = getattr(client, method)("/login")
            assert response.status_code == 405
            _assert_not_frameable(response, (username, method))
    assert html_pages >= 40, html_pages


# --- cookies ----------------------------------------------------------------------------


def _set_cookies(response) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def _cookie_flags(cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]} | {
        "samesite=" + part.strip().split("=", 1)[1].lower()
        for part in cookie.split(";")[1:] if part.strip().lower().startswith("samesite=")}


def _every_cookie_of_a_visit(client, **kwargs) -> list[str]:
    cookies = []
    page = client.get("/login", **kwargs)
    cookies += _set_cookies(page)
    response = client.post("/login", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                           "username": "member", "password": PASSWORD},
                           **kwargs)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    cookies += _set_cookies(response)
    profile = client.get("/profile", **kwargs)
    assert profile.status_code == 200
    cookies += _set_cookies(profile)
    confirm = client.get("/logout", **kwargs)
    cookies += _set_cookies(confirm)
    logout = client.post("/logout", data={"csrf_token": csrf_token(confirm.get_data(
        as_text=True))}, **kwargs)
    assert logout.status_code == 302
    cookies += _set_cookies(logout)
    return cookies


def test_cookies_are_httponly_and_samesite_lax_and_not_secure_on_http(app, world):
    cookies = _every_cookie_of_a_visit(app.test_client())
    assert any(c.startswith("col_auth_session=") for c in cookies), cookies
    for cookie in cookies:
        flags = _cookie_flags(cookie)
        assert {"httponly", "samesite=lax"} <= flags, cookie
        assert "secure" not in flags, cookie


def test_cookies_are_secure_when_the_issuer_is_https(tmp_path, monkeypatch):
    monkeypatch.setenv("COL_AUTH_ISSUER", "https://col.example")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "TESTING": True,
                      "DATABASE_URL": f"sqlite:///{tmp_path}/https.sqlite",
                      "RATELIMIT_ENABLED": False, "PASSWORD_HASH_METHOD": CHEAP_HASH})
    upgrade_database(app)
    seed(app)
    https = {"base_url": "https://col.example", "headers": {"Referer": "https://col.example/"}}
    cookies = _every_cookie_of_a_visit(app.test_client(), **https)
    assert any(c.startswith("col_auth_session=") for c in cookies), cookies
    for cookie in cookies:
        assert {"httponly", "samesite=lax", "secure"} <= _cookie_flags(cookie), cookie
    dispose(app)


# --- rate limits shared by two gunicorn workers through Redis ---------------------------


class Alternation:
    """Makes consecutive requests reach different sync workers of a 2-worker gunicorn.

    A connection that sends nothing keeps the worker that accepted it waiting; the
    next request must go to the other worker. Before each request, the previous
    holder is released and the worker that just answered is held.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.held = self._hold()

    def _hold(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        time.sleep(0.3)  # accepted by whichever worker is free
        return sock

    def next(self) -> None:
        """Hold the worker that answered last, release the one held before."""
        newly = self._hold()
        self.held.close()
        time.sleep(0.3)
        self.held = newly

    def close(self) -> None:
        self.held.close()


@pytest.fixture
def limited_server(gunicorn_factory, redis_url):
    return gunicorn_factory(workers=2, RATELIMIT_ENABLED="true",
                            RATELIMIT_STORAGE_URI=redis_url,
                            LOGIN_RATE_LIMIT="5 per minute", TOKEN_RATE_LIMIT="5 per minute")


def _alternating(server, path: str, attempt, n: int = 6) -> tuple[list[int], list[int]]:
    """``n`` POSTs, each answered by the other worker; statuses and worker pids."""
    time.sleep(0.3)  # earlier requests are in the log
    already = len([row for row in server.access_lines() if row[1:3] == ("POST", path)])
    alternation = Alternation(server.port)
    statuses = []
    try:
        for i in range(n):
            if i:
                alternation.next()
            statuses.append(attempt())
    finally:
        alternation.close()
    deadline = time.monotonic() + 5
    while True:
        pids = [row[0] for row in server.access_lines()
                if row[1:3] == ("POST", path)][already:]
        if len(pids) >= n or time.monotonic() > deadline:
            return statuses, pids
        time.sleep(0.05)


def _alternated(pids: list[int], n: int = 6) -> bool:
    return len(pids) == n and all(a != b for a, b in zip(pids, pids[1:], strict=False))


def _limited_six_times(server, redis_url: str, path: str, attempt) -> tuple[list[int], list[int]]:
    """Six attempts on alternating workers, from empty counters. Should a held
    connection not be taken up in time on a busy machine (the same worker answered
    twice in a row), the counters are emptied and the round run again."""
    for _ in range(3):
        redis.Redis.from_url(redis_url).flushdb()
        statuses, pids = _alternating(server, path, attempt)
        if _alternated(pids):
            break
    return statuses, pids


def test_login_and_token_rate_limits_hold_across_two_workers_through_redis(
        limited_server, redis_url):
    server = limited_server
    store = seeding_app(server.database_url, server.instance_path)
    clean(store)
    seeded = seed_client(store)
    try:
        browser = Browser(server.url)
        token = csrf_token(browser.get("/login").text)

        def wrong_login() -> int:
            return browser.post("/login", data={"csrf_token": token, "username": "member",
                                                "password": "wrong"}).status_code

        statuses, pids = _limited_six_times(server, redis_url, "/login", wrong_login)
        assert _alternated(pids), pids
        assert statuses == [400] * 5 + [429], statuses

        def bad_client() -> int:
            return requests.post(server.url + "/api/o/oauth/v2/token", timeout=10, data={
                "grant_type": "refresh_token", "refresh_token": "x",
                "client_id": seeded.client_id, "client_secret": "wrong"}).status_code

        statuses, pids = _limited_six_times(server, redis_url, "/api/o/oauth/v2/token",
                                            bad_client)
        assert _alternated(pids), pids
        assert statuses == [401] * 5 + [429], statuses
        # The counts live in Redis, where both workers see them.
        assert redis.Redis.from_url(redis_url).keys("*")
    finally:
        clean(store)
        dispose(store)


# --- a database dump holds no usable token or secret ------------------------------------


def _variants(secret: str) -> set[str]:
    """A secret and the spellings it could be stored in."""
    found = {secret, secret.lower(), secret.upper()}
    if "}" in secret:
        guid = secret.split("}", 1)[1]
        found |= {guid, guid.lower(), guid.upper(), guid.replace("-", "").lower(),
                  guid.replace("-", "").upper()}
    for prefix in ("col_at_", "col_rt_"):
        if secret.startswith(prefix):
            found.add(secret[len(prefix):])
    return {v for v in found if len(v) >= 16}


def _dump_postgresql(url: str) -> bytes:
    """pg_dump of the database; every table as COPY text when pg_dump is missing."""
    parsed = sa.make_url(url)
    if shutil.which("pg_dump"):
        libpq = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        return subprocess.run(["pg_dump", "--no-owner", "--dbname", libpq], check=True,
                              capture_output=True, timeout=120).stdout
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            out = bytearray()
            for table in db.metadata.sorted_tables:
                with raw.cursor().copy(f'COPY "{table.name}" TO STDOUT') as copy:
                    for chunk in copy:
                        out += bytes(chunk)
            return bytes(out)
    finally:
        engine.dispose()


def _dump_sqlite(url: str) -> bytes:
    path = sa.make_url(url).database
    return b"".join(open(p, "rb").read() for p in (path, path + "-wal") if os.path.exists(p))


def test_a_database_dump_holds_no_usable_token_or_secret(app, live, backend):
    seeded = seed_client(app)
    legacy = seeded.legacy
    secrets: dict[str, str] = {"client_secret": seeded.client_secret,
                               "first AppSecret": legacy.app_secret}
    admin = Browser(live.url)
    admin.login("admin")
    # An app registered and its secret regenerated over HTTP: both secrets shown once.
    shown = re.compile(r'<code id="app-(token|secret)">([^<]*)</code>')
    page = admin.get("/developer/add")
    response = admin.post("/developer/add", data={
        "csrf_token": csrf_token(page.text), "name": "Dumped App",
        "return_url": "https://dump.example/cb"})
    values = {k: html.unescape(v) for k, v in shown.findall(response.text)}
    app_token, secrets["registered AppSecret"] = values["token"], values["secret"]
    response = admin.post(f"/developer/{app_token}/secret",
                          data={"csrf_token": csrf_token(admin.get("/developer").text)})
    secrets["regenerated AppSecret"] = html.unescape(shown.findall(response.text)[-1][1])
    # Legacy user and site tokens, and the packets that carried them.
    client = LegacyClient(live.url, app_token, secrets["regenerated AppSecret"])
    for site in (False, True):
        page = admin.get(client.authorization_url(site=site).removeprefix(live.url))
        response = admin.post("/auth/", data={"csrf_token": csrf_token(page.text),
                                              "apptoken": app_token,
                                              "type": "1" if site else "44", "allow": "Allow"})
        packet = query_of(response.headers["Location"])["jwt"][0]
        grant = client.read_return(response.headers["Location"])
        secrets[f"{grant.kind} packet"] = packet
        secrets[grant.kind] = grant.token
    # OAuth2: a code left unredeemed, a code redeemed, its pair, the pair after a refresh.
    member = Browser(live.url)
    member.login("member")
    codes = [query_of(consent(member, authorize_url(
        live.url, seeded.client_id, seeded.redirect_uri)).headers["Location"])["code"][0]
        for _ in range(2)]
    secrets["unredeemed code"], secrets["redeemed code"] = codes
    first = exchange(live.url, seeded, codes[1]).json()
    second = refresh(live.url, seeded, first["refresh_token"]).json()
    for n, pair in (("first", first), ("second", second)):
        secrets[f"{n} access token"] = pair["access_token"]
        secrets[f"{n} refresh token"] = pair["refresh_token"]
        secrets[f"{n} id_token"] = pair["id_token"]
    # The keys of the instance, which must never be in the database either.
    secrets["SECRET_KEY"] = app.config["SECRET_KEY"]
    secrets["CLIENT_SECRET_HASH_KEY"] = app.config["CLIENT_SECRET_HASH_KEY"]
    for i, key in enumerate(app.config["ENCRYPTION_KEYS"]):
        secrets[f"encryption key {i}"] = key

    url = app.config["SQLALCHEMY_DATABASE_URI"]
    dump = _dump_postgresql(url) if backend == "postgresql" else _dump_sqlite(url)
    assert len(dump) > 1000
    for what, secret in secrets.items():
        for variant in _variants(secret):
            assert variant.encode() not in dump, f"{what} is in the dump in clear"
            assert quote(variant, safe="").encode() not in dump, f"{what} (URL-encoded)"
    # Tokens are there, as hashes (so the dump is the real one).
    for what in ("user_token", "site_token", "first access token", "second refresh token",
                 "unredeemed code"):
        assert token_hash(secrets[what]).encode() in dump, what
