"""UserInfo with the access token where RFC 6750 allows it (issue 10, item 3).

The conformance suite's ``oidcc-userinfo-get``, ``oidcc-userinfo-post-header`` and
``oidcc-userinfo-post-body``: the header (§2.1) with GET or POST, and the form body
(§2.2: POST, ``application/x-www-form-urlencoded``, not beside an ``Authorization``
header). Never the query (§2.3 is optional; a token in a URL is written to logs):
``?access_token=`` is a 400 ``invalid_request`` that says why, header or not. The
Web API (``/api/v1``) keeps reading the header only.
"""

from __future__ import annotations

import requests

from tests.oauth.support import get_code, seed_client

V2 = "/api/o/oauth/v2"


def _access_token(live, seeded) -> str:
    response = requests.post(f"{live.url}{V2}/token", timeout=10, data={
        "grant_type": "authorization_code", "code": get_code(live, seeded),
        "redirect_uri": seeded.redirect_uri, "client_id": seeded.client_id,
        "client_secret": seeded.client_secret})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _userinfo(live, method: str = "GET", **kwargs) -> requests.Response:
    return requests.request(method, f"{live.url}{V2}/userinfo", timeout=10, **kwargs)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_claims(response: requests.Response, seeded) -> None:
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    claims = response.json()
    assert claims["sub"] == seeded.legacy.member_id
    assert claims["preferred_username"] == "Member"


def _assert_invalid_request(response: requests.Response, mentions: str) -> None:
    assert response.status_code == 400, (response.status_code, response.text[:300])
    body = response.json()
    assert body["error"] == "invalid_request", body
    assert mentions in body["error_description"], body
    assert "sub" not in body
    # RFC 6750 §3: the error is named in the Bearer challenge as well.
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


# --- the three placements the suite tries ----------------------------------------------


def test_oidcc_userinfo_get(app, live):
    seeded = seed_client(app)
    _assert_claims(_userinfo(live, headers=_bearer(_access_token(live, seeded))), seeded)


def test_oidcc_userinfo_post_header(app, live):
    seeded = seed_client(app)
    _assert_claims(_userinfo(live, "POST", headers=_bearer(_access_token(live, seeded))),
                   seeded)


def test_oidcc_userinfo_post_body(app, live):
    seeded = seed_client(app)
    token = _access_token(live, seeded)
    _assert_claims(_userinfo(live, "POST", data={"access_token": token}), seeded)
    # A charset parameter is still the form media type.
    _assert_claims(_userinfo(live, "POST", data=f"access_token={token}", headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}), seeded)


# --- what the body placement does not allow -------------------------------------------


def test_userinfo_refuses_a_token_in_the_query(app, live):
    seeded = seed_client(app)
    token = _access_token(live, seeded)
    _assert_invalid_request(_userinfo(live, params={"access_token": token}), "URL")
    # Even beside a good header, and even empty: the URL is refused, not ignored.
    _assert_invalid_request(_userinfo(live, params={"access_token": token},
                                      headers=_bearer(token)), "URL")
    _assert_invalid_request(_userinfo(live, params={"access_token": ""},
                                      headers=_bearer(token)), "URL")
    _assert_invalid_request(_userinfo(live, "POST", params={"access_token": token},
                                      data={"access_token": token}), "URL")


def test_userinfo_refuses_a_body_token_beside_an_authorization_header(app, live):
    seeded = seed_client(app)
    token = _access_token(live, seeded)
    _assert_invalid_request(_userinfo(live, "POST", headers=_bearer(token),
                                      data={"access_token": token}), "one way")


def test_userinfo_refuses_a_repeated_body_token(app, live):
    seeded = seed_client(app)
    token = _access_token(live, seeded)
    _assert_invalid_request(_userinfo(live, "POST",
                                      data=[("access_token", token), ("access_token", token)]),
                            "repeated")


def test_userinfo_reads_the_body_only_when_it_is_a_form(app, live):
    seeded = seed_client(app)
    token = _access_token(live, seeded)
    for kwargs in ({"json": {"access_token": token}},
                   {"files": {"access_token": (None, token)}},  # multipart/form-data
                   {"data": f"access_token={token}", "headers": {"Content-Type": "text/plain"}}):
        response = _userinfo(live, "POST", **kwargs)
        assert response.status_code == 401, (kwargs, response.text)
        assert response.json()["error"] == "invalid_token"
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_userinfo_bad_body_token_is_invalid_token(app, live):
    seed_client(app)
    for value in ("col_at_unknown", "", "not a b64token"):
        response = _userinfo(live, "POST", data={"access_token": value})
        assert response.status_code == 401, (value, response.text)
        assert response.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_userinfo_body_token_needs_the_openid_scope(app, live):
    seeded = seed_client(app, scopes="api")
    token = _access_token(live, seeded)
    response = _userinfo(live, "POST", data={"access_token": token})
    assert response.status_code == 403 and response.json()["error"] == "insufficient_scope"


# --- the Web API keeps its one placement ----------------------------------------------


def test_web_api_reads_the_header_only(app, live):
    seeded = seed_client(app)
    token = _access_token(live, seeded)
    me = f"{live.url}/api/v1/me"
    assert requests.get(me, headers=_bearer(token), timeout=10).status_code == 200
    # No body placement at /api/v1: a form token there is no credential.
    response = requests.post(f"{live.url}/api/v1/items", data={"access_token": token},
                             timeout=10)
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"
    # The query is no credential there either: the header alone decides, as before.
    assert requests.get(me, params={"access_token": token}, timeout=10).status_code == 401
