"""CORS over real HTTP (issue 10, item 4): browser apps on other origins.

Discovery and JWKS are public documents: any origin may read them. The token,
revocation and UserInfo endpoints answer a page's origin only when it is the
origin of one of the client's registered redirect URIs (the client named in the
request, or the client of the presented access token). A preflight carries no
client yet, so it is answered for the origin of any usable client's redirect URI;
the actual response then decides. No ``Access-Control-Allow-Credentials``: these
endpoints take tokens and client ids, never cookies.
"""

from __future__ import annotations

import pytest
import requests

from col_auth.core import oauth_clients
from col_auth.extensions import db
from tests.helpers import seed
from tests.oauth.support import OAuthSeed, get_code, pkce_pair

V2 = "/api/o/oauth/v2"
SPA = "https://spa.example"
OTHER = "https://other.example:8443"
EVIL = "https://evil.example"
ACAO = "Access-Control-Allow-Origin"


@pytest.fixture
def app_config(request) -> dict:
    return dict(getattr(request, "param", {}))


def seed_two_clients(app) -> tuple[OAuthSeed, OAuthSeed]:
    """A public client of https://spa.example and a confidential one of
    https://other.example:8443, in one module."""
    legacy = seed(app)
    with app.app_context():
        module = oauth_clients.create_module("Browser apps")
        oauth_clients.ensure_external_app_enabled(module)
        template = oauth_clients.create_template(module.external_app, "SPA", "openid api")
        spa, _ = oauth_clients.create_client(
            template, name="SPA", public=True,
            redirect_uris=[f"{SPA}/callback", "https://SPA.example:443/other"])
        other, secret = oauth_clients.create_client(
            template, name="Other", redirect_uris=[f"{OTHER}/cb"])
        db.session.commit()
        return (OAuthSeed(spa.client_id, "", f"{SPA}/callback", legacy),
                OAuthSeed(other.client_id, secret, f"{OTHER}/cb", legacy))


def preflight(live, path: str, origin: str, method: str = "POST",
              headers: str = "content-type") -> requests.Response:
    return requests.options(f"{live.url}{path}", timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers})


def post_from(live, origin: str, endpoint: str, data: dict, **kwargs) -> requests.Response:
    return requests.post(f"{live.url}{V2}/{endpoint}", data=data, timeout=10,
                         headers={"Origin": origin, **kwargs.pop("headers", {})}, **kwargs)


def assert_allowed(response: requests.Response, origin: str) -> None:
    assert response.headers.get(ACAO) == origin, dict(response.headers)
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers.get("Vary", "")


def assert_not_allowed(response: requests.Response) -> None:
    assert ACAO not in response.headers, dict(response.headers)
    assert "Access-Control-Allow-Credentials" not in response.headers


def spa_tokens(live, spa: OAuthSeed) -> dict:
    verifier, challenge = pkce_pair()
    code = get_code(live, spa, scope="openid api", code_challenge=challenge,
                    code_challenge_method="S256")
    response = post_from(live, SPA, "token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": spa.redirect_uri,
        "client_id": spa.client_id, "code_verifier": verifier})
    assert response.status_code == 200, response.text
    assert_allowed(response, SPA)
    return response.json()


# --- discovery and JWKS: any origin -----------------------------------------------------


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration",
                                  "/.well-known/oauth-authorization-server", f"{V2}/jwks"])
def test_discovery_and_jwks_are_open_to_any_origin(app, live, path):
    response = requests.get(f"{live.url}{path}", headers={"Origin": EVIL}, timeout=10)
    assert response.status_code == 200
    assert response.headers[ACAO] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers

    answered = preflight(live, path, EVIL, method="GET", headers="")
    assert answered.status_code == 200 and answered.content == b""
    assert answered.headers[ACAO] == "*"
    assert "GET" in answered.headers["Access-Control-Allow-Methods"]
    assert "POST" not in answered.headers["Access-Control-Allow-Methods"]
    assert int(answered.headers["Access-Control-Max-Age"]) > 0


# --- the token endpoint ---------------------------------------------------------------


def test_token_preflight_is_answered_for_registered_origins_only(app, live):
    seed_two_clients(app)
    for origin in (SPA, OTHER):
        answered = preflight(live, f"{V2}/token", origin,
                             headers="authorization, content-type")
        assert answered.status_code == 200 and answered.content == b""
        assert_allowed(answered, origin)
        assert answered.headers["Access-Control-Allow-Methods"] == "POST"
        allowed_headers = answered.headers["Access-Control-Allow-Headers"].lower()
        assert "authorization" in allowed_headers and "content-type" in allowed_headers
        assert answered.headers["Access-Control-Max-Age"] == "600"
    for origin in (EVIL, "null", "http://spa.example", "https://spa.example:444"):
        assert_not_allowed(preflight(live, f"{V2}/token", origin))


def test_token_answers_only_the_clients_own_origins(app, live):
    spa, other = seed_two_clients(app)
    spa_tokens(live, spa)  # 200 with the SPA's origin

    # Errors carry the header too, or the page could not read them.
    bad_code = {"grant_type": "authorization_code", "code": "nope",
                "redirect_uri": spa.redirect_uri, "client_id": spa.client_id,
                "code_verifier": "x" * 43}
    refused = post_from(live, SPA, "token", bad_code)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert_allowed(refused, SPA)
    with_secret = post_from(live, SPA, "token", {**bad_code, "client_secret": "x"})
    assert with_secret.status_code == 401 and with_secret.json()["error"] == "invalid_client"
    assert_allowed(with_secret, SPA)

    # Another client's origin, or none of any client's, reads nothing of the SPA's.
    assert_not_allowed(post_from(live, OTHER, "token", bad_code))
    assert_not_allowed(post_from(live, EVIL, "token", bad_code))
    # The confidential client's origin, for its own requests (Basic or form).
    wrong_secret = {"grant_type": "refresh_token", "refresh_token": "x",
                    "client_id": other.client_id, "client_secret": "wrong"}
    assert_allowed(post_from(live, OTHER, "token", wrong_secret), OTHER)
    assert_not_allowed(post_from(live, SPA, "token", wrong_secret))
    # An unknown client: no origin is its.
    unknown = post_from(live, SPA, "token", {**bad_code, "client_id": "no-such-client"})
    assert unknown.status_code == 401
    assert_not_allowed(unknown)


def test_refusals_before_the_view_still_carry_the_header(app, live):
    spa, _other = seed_two_clients(app)
    # The boundary refuses a control character before any view runs: JSON, with CORS.
    refused = requests.post(f"{live.url}{V2}/token?x=%01", timeout=10,
                            headers={"Origin": SPA},
                            data={"grant_type": "refresh_token", "refresh_token": "x",
                                  "client_id": spa.client_id})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"
    assert_allowed(refused, SPA)
    # And a request without an Origin gets no CORS header at all.
    plain = requests.post(f"{live.url}{V2}/token", timeout=10,
                          data={"grant_type": "refresh_token", "refresh_token": "x",
                                "client_id": spa.client_id})
    assert plain.status_code == 400 and ACAO not in plain.headers


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True,
                                         "TOKEN_RATE_LIMIT": "3 per minute"}], indirect=True)
def test_rate_limited_token_requests_still_carry_the_header(app, live):
    spa, _other = seed_two_clients(app)
    data = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": spa.client_id}
    answers = [post_from(live, SPA, "token", data) for _ in range(4)]
    assert [a.status_code for a in answers] == [400, 400, 400, 429]
    assert answers[-1].json()["error"] == "rate_limited"
    assert_allowed(answers[-1], SPA)


# --- revocation -------------------------------------------------------------------------


def test_revocation_answers_only_the_clients_own_origins(app, live):
    spa, other = seed_two_clients(app)
    assert_allowed(preflight(live, f"{V2}/revoke", SPA), SPA)
    assert_not_allowed(preflight(live, f"{V2}/revoke", EVIL))
    tokens = spa_tokens(live, spa)
    data = {"token": tokens["refresh_token"], "client_id": spa.client_id}
    assert_not_allowed(post_from(live, EVIL, "revoke", data))
    assert_not_allowed(post_from(live, OTHER, "revoke", data))
    revoked = post_from(live, SPA, "revoke", data)
    assert revoked.status_code == 200
    assert_allowed(revoked, SPA)
    # The confidential client, by Basic: its origin.
    response = post_from(live, OTHER, "revoke", {"token": "x"},
                         auth=(other.client_id, other.client_secret))
    assert response.status_code == 200
    assert_allowed(response, OTHER)


# --- UserInfo -----------------------------------------------------------------------------


def test_userinfo_answers_the_origins_of_the_tokens_client(app, live):
    spa, _other = seed_two_clients(app)
    tokens = spa_tokens(live, spa)
    path = f"{V2}/userinfo"
    for origin in (SPA, OTHER):
        answered = preflight(live, path, origin, method="GET", headers="authorization")
        assert_allowed(answered, origin)
        assert set(answered.headers["Access-Control-Allow-Methods"].split(", ")) == {
            "GET", "POST"}
    assert_not_allowed(preflight(live, path, EVIL, method="GET", headers="authorization"))

    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    ok = requests.get(f"{live.url}{path}", timeout=10, headers={"Origin": SPA, **bearer})
    assert ok.status_code == 200 and ok.json()["sub"]
    assert_allowed(ok, SPA)
    # The preflight let OTHER through, but the token is the SPA's.
    assert_not_allowed(requests.get(f"{live.url}{path}", timeout=10,
                                    headers={"Origin": OTHER, **bearer}))
    assert_not_allowed(requests.get(f"{live.url}{path}", timeout=10,
                                    headers={"Origin": EVIL, **bearer}))

    # A refused token: the page must see the 401 to know it must refresh.
    requests.post(f"{live.url}{V2}/revoke", timeout=10,
                  data={"token": tokens["refresh_token"], "client_id": spa.client_id})
    refused = requests.get(f"{live.url}{path}", timeout=10, headers={"Origin": SPA, **bearer})
    assert refused.status_code == 401
    assert_allowed(refused, SPA)
    assert "WWW-Authenticate" in refused.headers.get("Access-Control-Expose-Headers", "")
    garbage = requests.get(f"{live.url}{path}", timeout=10,
                           headers={"Origin": SPA, "Authorization": "Bearer nonsense"})
    assert garbage.status_code == 401
    assert_allowed(garbage, SPA)
    assert_not_allowed(requests.get(f"{live.url}{path}", timeout=10,
                                    headers={"Origin": EVIL, "Authorization": "Bearer x"}))


# --- what is not for browsers -----------------------------------------------------------------


def test_introspection_and_unusable_clients_get_no_cors(app, live):
    spa, _other = seed_two_clients(app)
    assert_not_allowed(preflight(live, f"{V2}/introspect", SPA))
    assert_not_allowed(post_from(live, SPA, "introspect", {"token": "x",
                                                           "client_id": spa.client_id}))
    with app.app_context():
        module = oauth_clients.get_module_by_name("Browser apps")
        oauth_clients.set_module_enabled(module, False)
        db.session.commit()
    assert_not_allowed(preflight(live, f"{V2}/token", SPA))
