"""The whole authorization-code flow driven by a real OAuth2 client library (Authlib)."""

from __future__ import annotations

import json
import secrets

import requests
from authlib.integrations.requests_client import OAuth2Session
from jwcrypto import jwk
from jwcrypto import jwt as jwcrypto_jwt

from tests.helpers import Browser, query_of
from tests.oauth.support import consent, seed_client


def test_full_flow_with_pkce_through_authlib(app, live):
    seeded = seed_client(app)
    base = live.url
    meta = requests.get(f"{base}/.well-known/openid-configuration", timeout=10).json()
    assert meta["issuer"] == base
    session = OAuth2Session(seeded.client_id, seeded.client_secret, scope="openid api",
                            redirect_uri=seeded.redirect_uri,
                            code_challenge_method="S256",
                            token_endpoint_auth_method="client_secret_post")
    code_verifier = secrets.token_urlsafe(48)
    url, state = session.create_authorization_url(meta["authorization_endpoint"],
                                                  code_verifier=code_verifier,
                                                  nonce="n-0S6_WzA2Mj")
    assert "code_challenge=" in url and "code_challenge_method=S256" in url
    browser = Browser(base)
    browser.login("member")
    redirect = consent(browser, url)
    callback = redirect.headers["Location"]
    assert callback.startswith(seeded.redirect_uri + "?")
    query = query_of(callback)
    assert query["state"] == [state]
    assert query["iss"] == [base], "RFC 9207 iss in the authorization response"

    token = session.fetch_token(meta["token_endpoint"], authorization_response=callback,
                                code_verifier=code_verifier)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 600
    assert token["scope"] == "openid api"
    assert token["refresh_token"] and token["access_token"] != token["refresh_token"]

    # The id_token, checked against the JWKS by jwcrypto (PyJWT signed it).
    keys = jwk.JWKSet.from_json(requests.get(meta["jwks_uri"], timeout=10).text)
    id_token = jwcrypto_jwt.JWT(jwt=token["id_token"], key=keys, algs=["RS256"],
                                check_claims={"iss": base, "aud": seeded.client_id,
                                              "exp": None})
    claims = json.loads(id_token.claims)
    assert claims["sub"] == seeded.legacy.member_id
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["company"] == "Sample CU"
    assert claims["preferred_username"] == "Member"
    assert claims["name"] == "Morgan Member"
    assert claims["email"] == "m@sample.example"
    assert isinstance(claims["auth_time"], int)
    published = {k["kid"] for k in requests.get(meta["jwks_uri"], timeout=10).json()["keys"]}
    assert id_token.token.jose_header["kid"] in published

    info = session.get(meta["userinfo_endpoint"]).json()
    assert info["sub"] == seeded.legacy.member_id and info["company"] == "Sample CU"

    me = session.get(f"{base}/api/v1/me")
    assert me.status_code == 200
    assert me.json()["auth"] == "oauth" and me.json()["username"] == "Member"

    old_access, old_refresh = token["access_token"], token["refresh_token"]
    refreshed = session.refresh_token(meta["token_endpoint"])
    assert refreshed["refresh_token"] != old_refresh
    assert refreshed["access_token"] != old_access
    assert session.get(f"{base}/api/v1/me").status_code == 200

    revoked = requests.post(meta["revocation_endpoint"], timeout=10, data={
        "token": refreshed["refresh_token"], "token_type_hint": "refresh_token",
        "client_id": seeded.client_id, "client_secret": seeded.client_secret})
    assert revoked.status_code == 200
    after = requests.get(f"{base}/api/v1/me", timeout=10,
                         headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    assert after.status_code == 401
