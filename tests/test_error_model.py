"""The one error model, over real HTTP: whatever a request sends, the answer is a
4xx with a stable code in the format of the face it reached, never a 500.

The first tests pin bugs the unification of the credential reader and the error
handlers exposed: a value the database cannot hold (NUL) used as a lookup key
made PostgreSQL refuse the query, and every such request was a 500.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import requests

from tests.helpers import Browser, csrf_token, seed
from tests.oauth.support import REDIRECT_URI, seed_client

V2 = "/api/o/oauth/v2"


def _json_error(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code, body
    assert body["error_description"]
    return body


def _page_error(response: requests.Response, status: int, code: str) -> str:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("text/html")
    assert f"<code>{code}</code>" in response.text
    return response.text


def test_client_id_with_nul_at_token_endpoint_is_invalid_client(app, live):
    seed_client(app)
    response = requests.post(f"{live.url}{V2}/token", timeout=10, data={
        "grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT_URI,
        "client_id": "client\x00id", "client_secret": "secret"})
    _json_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"] == 'Basic realm="col_auth"'


def test_client_basic_credentials_with_nul_are_invalid_client(app, live):
    seeded = seed_client(app)
    raw = base64.b64encode(f"{seeded.client_id}\x00:{seeded.client_secret}".encode()).decode()
    response = requests.post(f"{live.url}{V2}/token", timeout=10,
                             headers={"Authorization": f"Basic {raw}"},
                             data={"grant_type": "authorization_code", "code": "x"})
    _json_error(response, 401, "invalid_client")


def test_client_id_with_nul_at_revocation_and_introspection_is_invalid_client(app, live):
    seed_client(app)
    for endpoint in ("revoke", "introspect"):
        response = requests.post(f"{live.url}{V2}/{endpoint}", timeout=10, data={
            "token": "t", "client_id": "\x00", "client_secret": "s"})
        _json_error(response, 401, "invalid_client")


def test_client_id_with_nul_at_authorize_is_a_400_page_and_no_redirect(app, live):
    seed_client(app)
    browser = Browser(live.url)
    browser.login("member")
    response = browser.get(f"{V2}/authorize?client_id=a%00b&response_type=code"
                           f"&redirect_uri={quote(REDIRECT_URI, safe='')}")
    _page_error(response, 400, "invalid_client")
    assert "Location" not in response.headers


def test_username_with_nul_at_login_is_a_form_error(app, live):
    seed(app)
    browser = Browser(live.url)
    page = browser.get("/login")
    response = browser.post("/login", data={"csrf_token": csrf_token(page.text),
                                            "username": "member\x00", "password": "x"})
    assert response.status_code == 400, response.text[:300]
    assert "Unknown username or wrong password." in response.text


def test_ids_with_nul_in_page_urls_are_404(app, live):
    seed(app)
    browser = Browser(live.url)
    browser.login("admin")  # a site and system administrator
    token = csrf_token(browser.get("/logout").text)  # a page with a CSRF token
    _page_error(browser.post("/profile/connections/a%00b/revoke", data={"csrf_token": token}),
                404, "unknown_connection")
    _page_error(browser.post("/site/authorized-apps/a%00b/revoke", data={"csrf_token": token}),
                404, "unknown_connection")
    _page_error(browser.get("/admin/modules/a%00b"), 404, "unknown_module")
    _page_error(browser.get(f"{V2}/apps/a%00b/icon"), 404, "unknown_client")


def test_refused_bearer_token_at_api_and_userinfo_challenges_for_what_each_accepts(app, live):
    seed(app)
    api = requests.get(f"{live.url}/api/v1/me", headers={"Authorization": "Bearer nope"},
                       timeout=10)
    _json_error(api, 401, "invalid_token")
    assert api.headers["WWW-Authenticate"] == (
        'Basic realm="col_auth", Bearer realm="col_auth", error="invalid_token"')
    userinfo = requests.get(f"{live.url}{V2}/userinfo",
                            headers={"Authorization": "Bearer nope"}, timeout=10)
    _json_error(userinfo, 401, "invalid_token")
    assert userinfo.headers["WWW-Authenticate"] == 'Bearer realm="col_auth", error="invalid_token"'
    bare = requests.get(f"{live.url}{V2}/userinfo", timeout=10)
    _json_error(bare, 401, "invalid_token")
    # RFC 6750 §3.1: no error code when the request carried no credentials.
    assert bare.headers["WWW-Authenticate"] == 'Bearer realm="col_auth"'


def test_errors_no_blueprint_answers_follow_what_the_client_accepts(app, live):
    api = requests.get(f"{live.url}/api/v1/nothing-here", timeout=10)
    _json_error(api, 404, "not_found")
    browser = requests.get(f"{live.url}/api/v1/nothing-here", timeout=10,
                           headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    _page_error(browser, 404, "not_found")
    wrong_method = requests.delete(f"{live.url}/api/v1/me", timeout=10)
    _json_error(wrong_method, 405, "method_not_allowed")
    assert "GET" in wrong_method.headers["Allow"]
