"""The Basic OP plan's whole-flow modules: oidcc-server (with client_secret_basic
and client_secret_post) and oidcc-refresh-token; and the Config OP plan's
discovery and id_token checks (oidcc-discovery-endpoint-verification,
oidcc-idtoken-rs256)."""

from __future__ import annotations

import base64

import jwt
import pytest
import requests

from tests.oauth.conformance import V2, code_after_consent, id_token_claims, member
from tests.oauth.support import seed_client


def _token_request(live, seeded, data: dict, auth: str) -> requests.Response:
    if auth == "client_secret_basic":
        basic = base64.b64encode(f"{seeded.client_id}:{seeded.client_secret}".encode()).decode()
        return requests.post(f"{live.url}{V2}/token", data=data, timeout=10,
                             headers={"Authorization": f"Basic {basic}"})
    return requests.post(f"{live.url}{V2}/token", timeout=10, data={
        **data, "client_id": seeded.client_id, "client_secret": seeded.client_secret})


@pytest.mark.parametrize("auth", ["client_secret_basic", "client_secret_post"])
def test_oidcc_server(app, live, auth):
    seeded = seed_client(app)
    code = code_after_consent(member(live), live, seeded, scope="openid", nonce="n-42")
    response = _token_request(live, seeded, {"grant_type": "authorization_code", "code": code,
                                             "redirect_uri": seeded.redirect_uri}, auth)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    header = jwt.get_unverified_header(body["id_token"])
    assert header["alg"] == "RS256" and header["kid"]
    claims = id_token_claims(live, seeded, body["id_token"])
    # OIDC Core §2: the required claims, aud a single value naming the client.
    assert {"iss", "sub", "aud", "exp", "iat", "auth_time"} <= set(claims)
    assert claims["aud"] == seeded.client_id and claims["nonce"] == "n-42"
    assert claims["exp"] > claims["iat"]


@pytest.mark.parametrize("auth", ["client_secret_basic", "client_secret_post"])
def test_oidcc_refresh_token(app, live, auth):
    """OIDC Core §12.2: a refreshed id_token keeps iss, sub, aud and auth_time, and
    carries no nonce; the refresh token works for its own client only."""
    seeded = seed_client(app)
    code = code_after_consent(member(live), live, seeded, scope="openid offline_access")
    first = _token_request(live, seeded, {"grant_type": "authorization_code", "code": code,
                                          "redirect_uri": seeded.redirect_uri}, auth).json()
    before = id_token_claims(live, seeded, first["id_token"])
    refreshed = _token_request(live, seeded, {"grant_type": "refresh_token",
                                              "refresh_token": first["refresh_token"]}, auth)
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert body["refresh_token"] != first["refresh_token"]
    after = id_token_claims(live, seeded, body["id_token"])
    for claim in ("iss", "sub", "aud", "auth_time"):
        assert after[claim] == before[claim], claim
    assert "nonce" not in after


def test_a_refresh_token_is_refused_to_another_client(app, live):
    seeded = seed_client(app)
    with app.app_context():
        from col_auth.core import oauth_clients
        from col_auth.extensions import db

        module = oauth_clients.get_module_by_name("Sample Module")
        other, other_secret = oauth_clients.create_client(
            module.external_app.templates[0], name="Other client",
            redirect_uris=[seeded.redirect_uri])
        db.session.commit()
        other_id = other.client_id
    code = code_after_consent(member(live), live, seeded)
    first = _token_request(live, seeded, {"grant_type": "authorization_code", "code": code,
                                          "redirect_uri": seeded.redirect_uri},
                           "client_secret_post").json()
    stolen = requests.post(f"{live.url}{V2}/token", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
        "client_id": other_id, "client_secret": other_secret})
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"


def test_oidcc_discovery_endpoint_verification(app, live):
    """OIDC Discovery §4: the document at the issuer's well-known URL, its issuer
    exactly the issuer, every required member there, and what it lists works."""
    response = requests.get(f"{live.url}/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    meta = response.json()
    assert meta["issuer"] == live.url
    for member_name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint",
                        "jwks_uri", "response_types_supported", "subject_types_supported",
                        "id_token_signing_alg_values_supported", "scopes_supported",
                        "claims_supported", "grant_types_supported",
                        "token_endpoint_auth_methods_supported"):
        assert member_name in meta, member_name
    assert "openid" in meta["scopes_supported"]
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    keys = requests.get(meta["jwks_uri"], timeout=10).json()["keys"]
    assert keys and all(k["kty"] == "RSA" and k["use"] == "sig" for k in keys)


def test_oidcc_idtoken_rs256(app, live):
    seeded = seed_client(app)
    code = code_after_consent(member(live), live, seeded)
    body = _token_request(live, seeded, {"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": seeded.redirect_uri},
                          "client_secret_basic").json()
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "RS256"
    assert id_token_claims(live, seeded, body["id_token"])["sub"]
