"""The request boundary (``web.boundary``), over real HTTP on every database: text the
database cannot store (NUL, other control characters) is refused before any view
looks it up, as a 400 ``invalid_request`` in the form of the face it reached.

The first tests are the reproductions of issue 9, finding 5: each was a 500
(``psycopg.DataError``) on PostgreSQL.
"""

from __future__ import annotations

import base64
import html
import re
from urllib.parse import quote

import requests
from sqlalchemy import func, select

from col_auth.core.models import AuditEvent, AuthorizationCode, Item, Module
from col_auth.extensions import db
from tests.api.test_web_api import issue
from tests.helpers import Browser, basic, csrf_token, query_of, seed
from tests.oauth.support import REDIRECT_URI, authorize_url, seed_client

V2 = "/api/o/oauth/v2"
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def json_refusal(response: requests.Response) -> dict:
    """A 400 ``invalid_request`` in JSON (the API and protocol endpoints)."""
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "invalid_request", body
    assert body["error_description"]
    return body


def page_refusal(response: requests.Response) -> str:
    """A 400 ``invalid_request`` error page, and no redirect anywhere."""
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<code>invalid_request</code>" in response.text, response.text[:500]
    assert "Location" not in response.headers
    return response.text


def count(app, model) -> int:
    with app.app_context():
        try:
            return db.session.scalar(select(func.count()).select_from(model))
        finally:
            db.session.remove()


# --- the reproductions ------------------------------------------------------------------


def test_nul_in_client_id_at_token_endpoint_is_invalid_request(app, live):
    seed_client(app)
    response = requests.post(f"{live.url}{V2}/token", timeout=10, data={
        "grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT_URI,
        "client_id": "a\x00b", "client_secret": "secret"})
    json_refusal(response)


def test_nul_in_basic_client_credentials_is_invalid_request(app, live):
    """RFC 6749 §2.3.1: each part is form-encoded before base64, so ``a%00b`` is a NUL."""
    seeded = seed_client(app)
    for user_pass in (f"a%00b:{seeded.client_secret}", f"{seeded.client_id}:s%00",
                      f"a\x00b:{seeded.client_secret}"):
        raw = base64.b64encode(user_pass.encode()).decode()
        response = requests.post(f"{live.url}{V2}/token", timeout=10,
                                 headers={"Authorization": f"Basic {raw}"},
                                 data={"grant_type": "authorization_code", "code": "x",
                                       "redirect_uri": REDIRECT_URI})
        json_refusal(response)


def test_nul_in_client_id_at_introspection_and_revocation_is_invalid_request(app, live):
    seed_client(app)
    for endpoint in ("introspect", "revoke"):
        response = requests.post(f"{live.url}{V2}/{endpoint}", timeout=10, data={
            "token": "t", "client_id": "a\x00b", "client_secret": "s"})
        json_refusal(response)


def test_nul_in_client_id_at_authorize_is_a_400_page_without_login(app, live):
    seed_client(app)
    response = requests.get(f"{live.url}{V2}/authorize?client_id=ab%00&response_type=code"
                            f"&redirect_uri={quote(REDIRECT_URI, safe='')}",
                            allow_redirects=False, timeout=10)
    page_refusal(response)


def test_nul_in_a_path_segment_is_invalid_request(app, live):
    seed_client(app)
    page_refusal(requests.get(f"{live.url}{V2}/apps/ab%00cd/icon", timeout=10,
                              allow_redirects=False))


def test_nul_in_the_login_username_is_a_400_page(app, live):
    seed(app)
    browser = Browser(live.url)
    page = browser.get("/login")
    before = count(app, AuditEvent)
    response = browser.post("/login", data={"csrf_token": csrf_token(page.text),
                                            "username": "mem\x00ber", "password": "x"})
    page_refusal(response)
    assert count(app, AuditEvent) == before, "nothing about it is stored"


def _consent_fields(browser: Browser, url: str) -> dict[str, str]:
    page = browser.get(url)
    assert page.status_code == 200, (page.status_code, page.text[:300])
    fields = {k: html.unescape(v) for k, v in _HIDDEN.findall(page.text)}
    fields["csrf_token"] = csrf_token(page.text)
    fields["allow"] = "Allow"
    return fields


def test_nonce_longer_than_its_column_is_invalid_request_sent_to_the_client(app, live):
    """The nonce is stored with the code (``authorization_codes.nonce``): what does
    not fit is refused at the authorization request, not at "Allow"."""
    seeded = seed_client(app)
    browser = Browser(live.url)
    browser.login("member")
    limit = AuthorizationCode.nonce.type.length
    fitting = _consent_fields(browser, authorize_url(live.url, seeded.client_id,
                                                     seeded.redirect_uri, nonce="n" * limit))
    assert browser.post(f"{V2}/authorize", data=fitting).status_code == 302
    for length in (limit + 1, 2000):
        # "Allow" pressed on a consent page that carried it (the hidden fields).
        response = browser.post(f"{V2}/authorize", data={**fitting, "nonce": "n" * length})
        assert response.status_code == 302, (response.status_code, response.text[:300])
        query = query_of(response.headers["Location"])
        assert query["error"] == ["invalid_request"] and "code" not in query
        # And the consent page is not shown for it in the first place.
        url = authorize_url(live.url, seeded.client_id, seeded.redirect_uri,
                            nonce="n" * length)
        response = browser.get(url)
        assert response.status_code == 302, (response.status_code, response.text[:300])
        assert query_of(response.headers["Location"])["error"] == ["invalid_request"]
    assert count(app, AuthorizationCode) == 1


def test_nonce_with_nul_is_refused_at_the_consent_page_and_at_allow(app, live):
    seeded = seed_client(app)
    browser = Browser(live.url)
    browser.login("member")
    url = authorize_url(live.url, seeded.client_id, seeded.redirect_uri, nonce="a\x00b")
    page_refusal(browser.get(url))
    fields = _consent_fields(browser, authorize_url(live.url, seeded.client_id,
                                                    seeded.redirect_uri, nonce="ok"))
    page_refusal(browser.post(f"{V2}/authorize", data={**fields, "nonce": "a\x00b"}))
    assert count(app, AuthorizationCode) == 0


# --- the class: every parameter, path segment and header value ----------------------------


def test_control_characters_in_query_names_values_and_headers_are_refused(app, live):
    seed(app)
    # "/\t/evil.example" was a ``next`` browsers read as "//evil.example".
    for path in ("/login?next=%2Fa%01b", "/login?n%00ame=1", "/login?next=%2F%09%2Fevil.example",
                 "/login?next=%C2%85", "/developer/a%7Fb/edit"):
        page_refusal(requests.get(live.url + path, timeout=10, allow_redirects=False))
    browser = Browser(live.url)
    page = browser.get("/login")
    page_refusal(browser.post("/login?next=%2F%09%2Fevil.example", data={
        "csrf_token": csrf_token(page.text), "username": "member", "password": "x"}))
    for headers in ({"X-Anything": "a\x01b"}, {"User-Agent": "a\x7fb"},
                    {"Authorization": "Bearer a\x00b"}, {"X-Forwarded-For": "1.2.3.4\x00"}):
        json_refusal(requests.get(f"{live.url}/api/v1/me", headers=headers, timeout=10))


def test_header_values_of_utf8_text_are_not_control_characters(app, live):
    """WSGI hands header values over as latin-1: the bytes of UTF-8 text ("—" is
    E2 80 94) are not the C1 controls U+0080–U+009F they would decode to."""
    seed(app)
    response = requests.get(f"{live.url}/login", timeout=10,
                            headers={"User-Agent": "Brows—er ünïcode".encode()})
    assert response.status_code == 200, response.text[:300]


def test_form_values_may_hold_tab_cr_lf_but_names_may_not(app, live):
    """A textarea (the module's description) keeps its line breaks; form field names
    and other control characters are refused."""
    seed(app)
    admin = Browser(live.url)
    admin.login("admin")
    created = admin.submit("/admin/modules", {"name": "Sales",
                                              "description": "One\r\nTwo\tthree"})
    assert created.status_code == 302, created.text[:300]
    with app.app_context():
        assert db.session.scalar(select(Module.description)) == "One\r\nTwo\tthree"
    page_refusal(admin.submit("/admin/modules", {"name": "Other", "descr\tiption": "x"}))
    page_refusal(admin.submit("/admin/modules", {"name": "Other", "description": "a\x0bb"}))
    assert count(app, Module) == 1


def test_json_strings_with_nul_are_refused_by_the_api(app, live):
    """JSON bodies are not read by the boundary (only the view knows it wants one):
    the item validator refuses what cannot be stored."""
    s = seed(app)
    _, token = issue(app, s.member_id, s.app_token)
    for item in ({"title": "a\x00b"}, {"title": "ok", "body": "a\x00b"},
                 {"title": "ok", "ti\x00tle": "x"}, {"title": "\ud800"}):
        response = requests.post(f"{live.url}/api/v1/items", json=item, timeout=10,
                                 headers=basic("Member", token))
        assert response.status_code == 400, (item, response.status_code, response.text[:300])
        assert response.json()["error"] in ("invalid_field", "invalid_json")
    assert count(app, Item) == 0
