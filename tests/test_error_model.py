"""The one error model, over real HTTP: whatever a request sends, the answer is a
4xx with a stable code in the format of the face it reached, never a 500.

A value the database cannot hold (NUL) used as a lookup key made PostgreSQL refuse
the query, a 500: such values are now refused where they enter, as 400
``invalid_request`` (``web.boundary``; its tests are in tests/web/test_boundary.py).
"""

from __future__ import annotations

import requests

from tests.helpers import Browser, csrf_token, seed

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


def test_ids_with_nul_in_page_urls_are_invalid_request(app, live):
    """Refused at the boundary (``web.boundary``), each as its face's error page."""
    seed(app)
    browser = Browser(live.url)
    browser.login("admin")  # a site and system administrator
    token = csrf_token(browser.get("/logout").text)  # a page with a CSRF token
    _page_error(browser.post("/profile/connections/a%00b/revoke", data={"csrf_token": token}),
                400, "invalid_request")
    _page_error(browser.post("/site/authorized-apps/a%00b/revoke", data={"csrf_token": token}),
                400, "invalid_request")
    _page_error(browser.get("/admin/modules/a%00b"), 400, "invalid_request")
    _page_error(browser.get(f"{V2}/apps/a%00b/icon"), 400, "invalid_request")


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
