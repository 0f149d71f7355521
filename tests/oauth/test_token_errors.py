"""The token-side endpoints over real HTTP: token errors (RFC 6749 §5.2), client
authentication (§2.3), PKCE (RFC 7636), refresh (§6), Bearer use (RFC 6750),
introspection (RFC 7662), revocation (RFC 7009) and discovery (RFC 8414, OIDC
Discovery)."""

from __future__ import annotations

import base64
import time
from urllib.parse import quote_plus

import pytest
import requests

from col_auth.core import oauth_clients
from col_auth.extensions import db
from tests.helpers import Browser, query_of
from tests.oauth.support import (
    REDIRECT_URI,
    OAuthSeed,
    authorize_url,
    consent,
    get_code,
    pkce_pair,
    seed_client,
)

V2 = "/api/o/oauth/v2"


# --- helpers ----------------------------------------------------------------------


def post(live, endpoint: str, data=None, **kwargs) -> requests.Response:
    return requests.post(f"{live.url}{V2}/{endpoint}", data=data, timeout=10, **kwargs)


def creds(seeded: OAuthSeed) -> dict[str, str]:
    return {"client_id": seeded.client_id, "client_secret": seeded.client_secret}


def basic_header(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1: each part form-urlencoded, then base64 of ``id:secret``."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def assert_error(response: requests.Response, status: int, error: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["error"] == error, body
    assert "access_token" not in body and "refresh_token" not in body
    if status == 401:
        assert response.headers.get("WWW-Authenticate"), "401 needs a challenge"
    return body


def code_request(seeded: OAuthSeed, code: str, **extra: str) -> dict[str, str]:
    data = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": seeded.redirect_uri, **creds(seeded)}
    data.update(extra)
    return data


def tokens(live, seeded: OAuthSeed, scope: str = "openid api") -> dict:
    """A fresh grant with PKCE: the token endpoint's answer."""
    verifier, challenge = pkce_pair()
    code = get_code(live, seeded, scope=scope, code_challenge=challenge,
                    code_challenge_method="S256")
    response = post(live, "token", code_request(seeded, code, code_verifier=verifier))
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return response.json()


def refresh(live, seeded: OAuthSeed, refresh_token: str, **extra: str) -> requests.Response:
    return post(live, "token", {"grant_type": "refresh_token", "refresh_token": refresh_token,
                                **creds(seeded), **extra})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me(live, access_token: str) -> requests.Response:
    return requests.get(f"{live.url}/api/v1/me", headers=bearer(access_token), timeout=10)


def second_client(app, seeded: OAuthSeed, name: str = "Second client") -> OAuthSeed:
    """Another client of the first client's template."""
    with app.app_context():
        template = oauth_clients.find_client(seeded.client_id).template
        client, secret = oauth_clients.create_client(template, name=name,
                                                     redirect_uris=[REDIRECT_URI])
        db.session.commit()
        return OAuthSeed(client.client_id, secret, REDIRECT_URI, seeded.legacy)


def introspect(live, seeded: OAuthSeed, token: str) -> requests.Response:
    return post(live, "introspect", {"token": token, **creds(seeded)})


# --- client authentication ------------------------------------------------------------


def test_no_client_authentication(app, live):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    response = post(live, "token", {"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": seeded.redirect_uri})
    assert_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"]
    # Only the client_id is not authentication either.
    response = post(live, "token", {"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": seeded.redirect_uri,
                                    "client_id": seeded.client_id})
    assert_error(response, 401, "invalid_client")
    # The code was not spent by the failed attempts.
    assert post(live, "token", code_request(seeded, code)).status_code == 200


def test_wrong_secret_client_secret_post(app, live):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    for secret in ("wrong", seeded.client_secret + "x", seeded.client_secret.upper(), ""):
        response = post(live, "token", code_request(seeded, code, client_secret=secret))
        assert_error(response, 401, "invalid_client")
    assert post(live, "token", code_request(seeded, code)).status_code == 200


def test_unknown_client_id(app, live):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    response = post(live, "token", code_request(
        seeded, code, client_id="00000000-0000-0000-0000-000000000000"))
    assert_error(response, 401, "invalid_client")


def test_wrong_secret_client_secret_basic(app, live):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    data = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": seeded.redirect_uri}
    response = post(live, "token", data, headers=basic_header(seeded.client_id, "wrong"))
    assert_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert "realm=" in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("header", [
    "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"no-colon-here").decode(),
    "Basic ",
])
def test_malformed_basic_credentials(app, live, header):
    seeded = seed_client(app)
    response = post(live, "token", {"grant_type": "authorization_code", "code": "x",
                                    "redirect_uri": seeded.redirect_uri},
                    headers={"Authorization": header})
    assert_error(response, 401, "invalid_client")


def test_basic_and_client_secret_together(app, live):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    response = post(live, "token", code_request(seeded, code),
                    headers=basic_header(seeded.client_id, seeded.client_secret))
    assert_error(response, 400, "invalid_request")


def test_basic_with_a_different_client_id_in_the_body(app, live):
    seeded = seed_client(app)
    other = second_client(app, seeded)
    code = get_code(live, seeded)
    response = post(live, "token", {"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": seeded.redirect_uri,
                                    "client_id": other.client_id},
                    headers=basic_header(seeded.client_id, seeded.client_secret))
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_request", "invalid_client")


def test_client_secret_basic_works(app, live):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    response = post(live, "token", {"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": seeded.redirect_uri},
                    headers=basic_header(seeded.client_id, seeded.client_secret))
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    # The client_id may also be repeated in the body (RFC 6749 §2.3.1 allows it).
    code = get_code(live, seeded)
    response = post(live, "token", {"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": seeded.redirect_uri,
                                    "client_id": seeded.client_id},
                    headers=basic_header(seeded.client_id, seeded.client_secret))
    assert response.status_code == 200, response.text


def test_client_secret_basic_parts_are_form_urldecoded(app, live):
    """A compliant client may percent-encode any character; the server decodes it."""
    seeded = seed_client(app)
    code = get_code(live, seeded)
    encoded_id = "".join(f"%{ord(ch):02X}" for ch in seeded.client_id)
    encoded_secret = "".join(f"%{ord(ch):02X}" for ch in seeded.client_secret)
    raw = f"{encoded_id}:{encoded_secret}".encode()
    response = post(live, "token", {"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": seeded.redirect_uri},
                    headers={"Authorization": "Basic " + base64.b64encode(raw).decode()})
    assert response.status_code == 200, response.text


def test_expired_client(app, live, clock):
    seeded = seed_client(app, expires_days=1)
    issued = tokens(live, seeded)
    code = get_code(live, seeded)
    clock.advance(2 * 86400)
    assert_error(post(live, "token", code_request(seeded, code)), 401, "invalid_client")
    assert_error(refresh(live, seeded, issued["refresh_token"]), 401, "invalid_client")
    assert me(live, issued["access_token"]).status_code == 401


def test_disabled_module_stops_the_client(app, live):
    seeded = seed_client(app)
    issued = tokens(live, seeded)
    with app.app_context():
        module = oauth_clients.get_module_by_name("Sample Module")
        oauth_clients.set_module_enabled(module, False)
        db.session.commit()
    assert_error(refresh(live, seeded, issued["refresh_token"]), 401, "invalid_client")
    assert me(live, issued["access_token"]).status_code == 401


# --- the request itself -----------------------------------------------------------------


def test_json_body_is_refused(app, live):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    response = requests.post(f"{live.url}{V2}/token", json=code_request(seeded, code),
                             timeout=10)
    assert_error(response, 400, "invalid_request")
    assert post(live, "token", code_request(seeded, code)).status_code == 200


def test_form_with_a_charset_is_accepted(app, live):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    body = "&".join(f"{k}={quote_plus(v)}" for k, v in code_request(seeded, code).items())
    response = requests.post(f"{live.url}{V2}/token", data=body.encode(), timeout=10,
                             headers={"Content-Type":
                                      "application/x-www-form-urlencoded; charset=UTF-8"})
    assert response.status_code == 200, response.text


def test_missing_grant_type(app, live):
    seeded = seed_client(app)
    assert_error(post(live, "token", {"code": "x", "redirect_uri": seeded.redirect_uri,
                                      **creds(seeded)}), 400, "invalid_request")


# Grant types the server knows but no template allows (password, client_credentials,
# implicit, device_code, …) are unauthorized_client since issue 10:
# tests/oauth/test_oidcc_small_points.py.
@pytest.mark.parametrize("grant_type", ["AUTHORIZATION_CODE", "magic"])
def test_unsupported_grant_type(app, live, grant_type):
    seeded = seed_client(app)
    response = post(live, "token", {"grant_type": grant_type, "username": "member",
                                    "password": "x", **creds(seeded)})
    assert_error(response, 400, "unsupported_grant_type")


def test_missing_code(app, live):
    seeded = seed_client(app)
    data = {"grant_type": "authorization_code", "redirect_uri": seeded.redirect_uri,
            **creds(seeded)}
    assert_error(post(live, "token", data), 400, "invalid_request")
    assert_error(post(live, "token", {**data, "code": ""}), 400, "invalid_request")


def test_unknown_code(app, live):
    seeded = seed_client(app)
    assert_error(post(live, "token", code_request(seeded, "not-a-code")), 400, "invalid_grant")
    assert_error(post(live, "token", code_request(seeded, "x" * 5000)), 400, "invalid_grant")


def test_code_issued_to_another_client(app, live):
    seeded = seed_client(app)
    other = second_client(app, seeded)
    code = get_code(live, seeded)
    assert_error(post(live, "token", code_request(other, code)), 400, "invalid_grant")
    # The rightful client can still redeem it: the other client's attempt spent nothing.
    assert post(live, "token", code_request(seeded, code)).status_code == 200


def test_wrong_redirect_uri(app, live):
    second = "https://client.example/other"
    seeded = seed_client(app, redirect_uris=(REDIRECT_URI, second))
    code = get_code(live, seeded)
    for uri in (second, REDIRECT_URI + "/", "https://evil.example/callback"):
        response = post(live, "token", code_request(seeded, code, redirect_uri=uri))
        assert_error(response, 400, "invalid_grant")
    assert post(live, "token", code_request(seeded, code)).status_code == 200


def test_missing_code_verifier_when_a_challenge_was_sent(app, live):
    seeded = seed_client(app)
    _, challenge = pkce_pair()
    code = get_code(live, seeded, code_challenge=challenge, code_challenge_method="S256")
    assert_error(post(live, "token", code_request(seeded, code)), 400, "invalid_grant")
    assert_error(post(live, "token", code_request(seeded, code, code_verifier="")),
                 400, "invalid_grant")


def test_wrong_code_verifier(app, live):
    seeded = seed_client(app)
    verifier, challenge = pkce_pair()
    code = get_code(live, seeded, code_challenge=challenge, code_challenge_method="S256")
    other_verifier, _ = pkce_pair()
    for wrong in (other_verifier, challenge, verifier[:-1] + ("A" if verifier[-1] != "A"
                                                               else "B"),
                  "short", verifier + "x" * 200):
        response = post(live, "token", code_request(seeded, code, code_verifier=wrong))
        assert_error(response, 400, "invalid_grant")
        # Issue 10: a wrong verifier uses the code up, so the right one comes too late.
        response = post(live, "token", code_request(seeded, code, code_verifier=verifier))
        assert_error(response, 400, "invalid_grant")
        code = get_code(live, seeded, code_challenge=challenge, code_challenge_method="S256")
    response = post(live, "token", code_request(seeded, code, code_verifier=verifier))
    assert response.status_code == 200, response.text


def test_code_verifier_for_a_code_without_challenge(app, live):
    """PKCE downgrade (RFC 9700 §4.8.2): refused even though the code is otherwise good."""
    seeded = seed_client(app)
    code = get_code(live, seeded)
    verifier, _ = pkce_pair()
    assert_error(post(live, "token", code_request(seeded, code, code_verifier=verifier)),
                 400, "invalid_grant")


def test_expired_code(app, live, clock):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    clock.advance(int(app.config["CODE_TTL"]) + 1)
    assert_error(post(live, "token", code_request(seeded, code)), 400, "invalid_grant")


def test_code_just_before_expiry_works(app, live, clock):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    clock.advance(int(app.config["CODE_TTL"]) - 5)
    assert post(live, "token", code_request(seeded, code)).status_code == 200


@pytest.mark.parametrize("name", ["grant_type", "code", "redirect_uri", "client_id",
                                  "code_verifier"])
def test_repeated_parameter(app, live, name):
    seeded = seed_client(app)
    verifier, challenge = pkce_pair()
    code = get_code(live, seeded, code_challenge=challenge, code_challenge_method="S256")
    data = code_request(seeded, code, code_verifier=verifier)
    pairs = list(data.items()) + [(name, data[name])]
    assert_error(post(live, "token", pairs), 400, "invalid_request")
    assert post(live, "token", data).status_code == 200


def test_code_works_once(app, live):
    seeded = seed_client(app)
    code = get_code(live, seeded)
    first = post(live, "token", code_request(seeded, code))
    assert first.status_code == 200
    assert_error(post(live, "token", code_request(seeded, code)), 400, "invalid_grant")
    assert me(live, first.json()["access_token"]).status_code == 401
    assert_error(refresh(live, seeded, first.json()["refresh_token"]), 400, "invalid_grant")


def test_get_is_not_allowed(app, live):
    seeded = seed_client(app)
    response = requests.get(f"{live.url}{V2}/token", params={
        "grant_type": "authorization_code", "code": "x", **creds(seeded)}, timeout=10)
    assert response.status_code == 405


# --- refresh ------------------------------------------------------------------------------


def test_unknown_refresh_token(app, live):
    seeded = seed_client(app)
    assert_error(refresh(live, seeded, "col_rt_unknown"), 400, "invalid_grant")


def test_missing_refresh_token(app, live):
    seeded = seed_client(app)
    response = post(live, "token", {"grant_type": "refresh_token", **creds(seeded)})
    assert_error(response, 400, "invalid_request")


def test_access_token_is_not_a_refresh_token(app, live):
    seeded = seed_client(app)
    issued = tokens(live, seeded)
    assert_error(refresh(live, seeded, issued["access_token"]), 400, "invalid_grant")


def test_refresh_token_of_another_client(app, live):
    seeded = seed_client(app)
    other = second_client(app, seeded)
    issued = tokens(live, seeded)
    assert_error(refresh(live, other, issued["refresh_token"]), 400, "invalid_grant")
    # Not rotated nor revoked by the other client's attempt.
    assert refresh(live, seeded, issued["refresh_token"]).status_code == 200


def test_scope_widening_is_refused(app, live):
    seeded = seed_client(app)
    issued = tokens(live, seeded, scope="openid")
    assert issued["scope"] == "openid"
    for scope in ("openid api", "api", "admin", "openid admin api", "email"):
        assert_error(refresh(live, seeded, issued["refresh_token"], scope=scope),
                     400, "invalid_scope")
    # The refused attempts did not rotate the refresh token.
    assert refresh(live, seeded, issued["refresh_token"]).status_code == 200


def test_scope_narrowing(app, live):
    seeded = seed_client(app)
    issued = tokens(live, seeded, scope="openid api")
    assert me(live, issued["access_token"]).status_code == 200
    narrowed = refresh(live, seeded, issued["refresh_token"], scope="openid")
    assert narrowed.status_code == 200, narrowed.text
    body = narrowed.json()
    assert body["scope"] == "openid"
    assert body["refresh_token"] != issued["refresh_token"]
    response = me(live, body["access_token"])
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert "insufficient_scope" in response.headers["WWW-Authenticate"]
    # openid still works at the UserInfo endpoint.
    info = requests.get(f"{live.url}{V2}/userinfo", headers=bearer(body["access_token"]),
                        timeout=10)
    assert info.status_code == 200
    # §6: the new refresh token keeps the original grant's scope.
    again = refresh(live, seeded, body["refresh_token"])
    assert again.status_code == 200, again.text
    assert again.json()["scope"] == "openid api"
    assert me(live, again.json()["access_token"]).status_code == 200


def test_rotated_refresh_token_is_refused(app, live):
    seeded = seed_client(app)
    issued = tokens(live, seeded)
    rotated = refresh(live, seeded, issued["refresh_token"])
    assert rotated.status_code == 200
    assert_error(refresh(live, seeded, issued["refresh_token"]), 400, "invalid_grant")
    # Replay revokes the whole chain.
    assert_error(refresh(live, seeded, rotated.json()["refresh_token"]), 400, "invalid_grant")
    assert me(live, rotated.json()["access_token"]).status_code == 401


def test_expired_refresh_token(app, live, clock):
    seeded = seed_client(app)
    issued = tokens(live, seeded)
    clock.advance(int(app.config["REFRESH_TTL"]) + 1)
    assert_error(refresh(live, seeded, issued["refresh_token"]), 400, "invalid_grant")


def test_expired_access_token(app, live, clock):
    seeded = seed_client(app)
    issued = tokens(live, seeded)
    assert issued["expires_in"] == int(app.config["ACCESS_TTL"])
    assert me(live, issued["access_token"]).status_code == 200
    clock.advance(int(app.config["ACCESS_TTL"]) + 1)
    response = me(live, issued["access_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert "Bearer" in response.headers["WWW-Authenticate"]
    info = requests.get(f"{live.url}{V2}/userinfo", headers=bearer(issued["access_token"]),
                        timeout=10)
    assert info.status_code == 401
    # The refresh token still works and gives a fresh access token.
    fresh = refresh(live, seeded, issued["refresh_token"])
    assert fresh.status_code == 200
    assert me(live, fresh.json()["access_token"]).status_code == 200


def test_tokens_never_outlive_the_client(app, live, clock):
    seeded = seed_client(app, expires_days=1)
    issued = tokens(live, seeded)
    active = introspect(live, seeded, issued["refresh_token"]).json()
    assert active["active"] is True
    assert active["exp"] <= int(time.time()) + 86400 + 60


# --- UserInfo and the Web API (RFC 6750) -----------------------------------------------------


def test_userinfo_without_a_token(app, live):
    seed_client(app)
    response = requests.get(f"{live.url}{V2}/userinfo", timeout=10)
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer realm=")
    assert "error=" not in challenge  # RFC 6750 §3.1: no error code when none was sent


def test_userinfo_with_a_bad_token(app, live):
    seed_client(app)
    response = requests.get(f"{live.url}{V2}/userinfo", headers=bearer("col_at_nope"),
                            timeout=10)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_userinfo_with_an_api_only_token(app, live):
    seeded = seed_client(app)
    issued = tokens(live, seeded, scope="api")
    assert "id_token" not in issued
    response = requests.get(f"{live.url}{V2}/userinfo", headers=bearer(issued["access_token"]),
                            timeout=10)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert me(live, issued["access_token"]).status_code == 200


def test_userinfo_with_a_refresh_token_is_refused(app, live):
    seeded = seed_client(app)
    issued = tokens(live, seeded)
    response = requests.get(f"{live.url}{V2}/userinfo",
                            headers=bearer(issued["refresh_token"]), timeout=10)
    assert response.status_code == 401


# --- introspection (RFC 7662) ---------------------------------------------------------------


def test_introspect_active_access_token(app, live):
    seeded = seed_client(app)
    issued = tokens(live, seeded)
    before = int(time.time())
    response = introspect(live, seeded, issued["access_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["active"] is True
    assert body["scope"] == "openid api"
    assert body["client_id"] == seeded.client_id
    assert body["username"] == "Member"
    assert isinstance(body["exp"], int)
    assert before < body["exp"] <= before + int(app.config["ACCESS_TTL"]) + 5


def test_introspect_with_basic_auth(app, live):
    seeded = seed_client(app)
    issued = tokens(live, seeded)
    response = post(live, "introspect", {"token": issued["refresh_token"]},
                    headers=basic_header(seeded.client_id, seeded.client_secret))
    assert response.status_code == 200
    assert response.json()["active"] is True


def test_introspect_another_clients_token(app, live):
    seeded = seed_client(app)
    other = second_client(app, seeded)
    issued = tokens(live, seeded)
    for token in (issued["access_token"], issued["refresh_token"]):
        response = introspect(live, other, token)
        assert response.status_code == 200
        assert response.json() == {"active": False}


def test_introspect_unknown_token(app, live):
    seeded = seed_client(app)
    response = introspect(live, seeded, "col_at_unknown")
    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_introspect_revoked_token(app, live):
    seeded = seed_client(app)
    issued = tokens(live, seeded)
    assert post(live, "revoke", {"token": issued["access_token"],
                                 **creds(seeded)}).status_code == 200
    assert introspect(live, seeded, issued["access_token"]).json() == {"active": False}
    assert introspect(live, seeded, issued["refresh_token"]).json()["active"] is True


def test_introspect_refresh_token_after_rotation(app, live):
    seeded = seed_client(app)
    issued = tokens(live, seeded)
    rotated = refresh(live, seeded, issued["refresh_token"])
    assert rotated.status_code == 200
    assert introspect(live, seeded, issued["refresh_token"]).json() == {"active": False}
    assert introspect(live, seeded, rotated.json()["refresh_token"]).json()["active"] is True


def test_introspect_expired_access_token(app, live, clock):
    seeded = seed_client(app)
    issued = tokens(live, seeded)
    clock.advance(int(app.config["ACCESS_TTL"]) + 1)
    assert introspect(live, seeded, issued["access_token"]).json() == {"active": False}


def test_introspect_needs_client_authentication(app, live):
    seeded = seed_client(app)
    issued = tokens(live, seeded)
    response = post(live, "introspect", {"token": issued["access_token"]})
    body = assert_error(response, 401, "invalid_client")
    assert "active" not in body
    response = post(live, "introspect", {"token": issued["access_token"],
                                         "client_id": seeded.client_id,
                                         "client_secret": "wrong"})
    assert_error(response, 401, "invalid_client")


def test_introspect_missing_token(app, live):
    seeded = seed_client(app)
    assert_error(post(live, "introspect", creds(seeded)), 400, "invalid_request")


# --- revocation (RFC 7009) ---------------------------------------------------------------------


def test_revoking_an_access_token_stops_only_it(app, live):
    seeded = seed_client(app)
    issued = tokens(live, seeded)
    response = post(live, "revoke", {"token": issued["access_token"],
                                     "token_type_hint": "access_token", **creds(seeded)})
    assert response.status_code == 200
    assert me(live, issued["access_token"]).status_code == 401
    fresh = refresh(live, seeded, issued["refresh_token"])
    assert fresh.status_code == 200, fresh.text
    assert me(live, fresh.json()["access_token"]).status_code == 200


def test_revoking_a_refresh_token_stops_the_grant(app, live):
    seeded = seed_client(app)
    issued = tokens(live, seeded)
    # A wrong hint is only a hint (RFC 7009 §2.1).
    response = post(live, "revoke", {"token": issued["refresh_token"],
                                     "token_type_hint": "access_token", **creds(seeded)})
    assert response.status_code == 200
    assert me(live, issued["access_token"]).status_code == 401
    assert_error(refresh(live, seeded, issued["refresh_token"]), 400, "invalid_grant")


def test_revoking_another_clients_token_changes_nothing(app, live):
    seeded = seed_client(app)
    other = second_client(app, seeded)
    issued = tokens(live, seeded)
    for token in (issued["access_token"], issued["refresh_token"]):
        response = post(live, "revoke", {"token": token, **creds(other)})
        assert response.status_code == 200
    assert me(live, issued["access_token"]).status_code == 200
    assert introspect(live, seeded, issued["access_token"]).json()["active"] is True
    assert refresh(live, seeded, issued["refresh_token"]).status_code == 200


def test_revoking_an_unknown_token_answers_200(app, live):
    seeded = seed_client(app)
    response = post(live, "revoke", {"token": "col_at_unknown", **creds(seeded)})
    assert response.status_code == 200


def test_revoke_missing_token(app, live):
    seeded = seed_client(app)
    assert_error(post(live, "revoke", creds(seeded)), 400, "invalid_request")
    assert_error(post(live, "revoke", {"token": "", **creds(seeded)}), 400, "invalid_request")


def test_revoke_needs_client_authentication(app, live):
    seeded = seed_client(app)
    issued = tokens(live, seeded)
    assert_error(post(live, "revoke", {"token": issued["access_token"]}),
                 401, "invalid_client")
    assert_error(post(live, "revoke", {"token": issued["access_token"],
                                       "client_id": seeded.client_id,
                                       "client_secret": "wrong"}), 401, "invalid_client")
    assert me(live, issued["access_token"]).status_code == 200


# --- discovery ----------------------------------------------------------------------------------


@pytest.mark.parametrize("document", ["openid-configuration", "oauth-authorization-server"])
def test_discovery(app, live, document):
    response = requests.get(f"{live.url}/.well-known/{document}", timeout=10)
    assert response.status_code == 200
    meta = response.json()
    base = live.url + V2
    assert meta["issuer"] == live.url
    assert meta["authorization_endpoint"] == f"{base}/authorize"
    assert meta["token_endpoint"] == f"{base}/token"
    assert meta["userinfo_endpoint"] == f"{base}/userinfo"
    assert meta["jwks_uri"] == f"{base}/jwks"
    assert meta["revocation_endpoint"] == f"{base}/revoke"
    assert meta["introspection_endpoint"] == f"{base}/introspect"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["response_types_supported"] == ["code"]
    assert set(meta["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_post", "client_secret_basic", "none"}
    assert set(meta["revocation_endpoint_auth_methods_supported"]) == {
        "client_secret_post", "client_secret_basic", "none"}
    # Introspection serves protected resources, which authenticate (RFC 7662 §2.1).
    assert set(meta["introspection_endpoint_auth_methods_supported"]) == {
        "client_secret_post", "client_secret_basic"}
    assert set(meta["scopes_supported"]) == {"openid", "profile", "email", "address", "phone",
                                             "offline_access", "api"}
    # Every advertised endpoint answers.
    keys = requests.get(meta["jwks_uri"], timeout=10)
    assert keys.status_code == 200 and keys.json()["keys"]
    for endpoint in ("token_endpoint", "revocation_endpoint", "introspection_endpoint"):
        assert requests.post(meta[endpoint], data={}, timeout=10).status_code in (400, 401)
    assert requests.get(meta["userinfo_endpoint"], timeout=10).status_code == 401
    assert requests.get(meta["authorization_endpoint"], timeout=10).status_code == 400


def test_both_discovery_documents_agree(app, live):
    first = requests.get(f"{live.url}/.well-known/openid-configuration", timeout=10).json()
    second = requests.get(f"{live.url}/.well-known/oauth-authorization-server",
                          timeout=10).json()
    assert first == second


# --- the successful answer, for contrast -------------------------------------------------------


def test_successful_answer_shape(app, live):
    seeded = seed_client(app)
    browser = Browser(live.url)
    browser.login("member")
    verifier, challenge = pkce_pair()
    redirect = consent(browser, authorize_url(live.url, seeded.client_id, seeded.redirect_uri,
                                              scope="openid api", code_challenge=challenge,
                                              code_challenge_method="S256"))
    code = query_of(redirect.headers["Location"])["code"][0]
    response = post(live, "token", code_request(seeded, code, code_verifier=verifier))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token",
                         "scope", "id_token", "issued_at"}
    assert body["token_type"] == "Bearer"
