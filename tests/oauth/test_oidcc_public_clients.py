"""Public clients and PKCE-only clients over real HTTP (issue 10, item 4).

A public client has no secret: it names itself with ``client_id`` in the form and
authenticates with ``none`` (RFC 6749 §2.1, §2.3, §3.2.1); PKCE S256 is what
binds its code to it instead (RFC 7636, RFC 9700 §2.1.1). Its refresh tokens
still rotate, and a reused one still kills the chain (RFC 9700 §4.14.2). A
confidential client may be made to require PKCE as well.
"""

from __future__ import annotations

import requests

from col_auth.core import oauth_clients
from col_auth.core.clock import now
from col_auth.core.models import User
from col_auth.core.oauth_tokens import create_code
from col_auth.extensions import db
from tests.helpers import Browser, query_of
from tests.oauth.support import OAuthSeed, authorize_url, get_code, pkce_pair, seed_client
from tests.oauth.test_token_errors import assert_error, basic_header, post

SPA_REDIRECT_URI = "https://spa.example/callback"


def seed_clients(app, *, public: bool = True, require_pkce: bool = False,
                 expires_days: int | None = None) -> OAuthSeed:
    """A client of a browser app: public (``client_secret`` empty) unless told."""
    return seed_client(app, public=public, require_pkce=require_pkce,
                       expires_days=expires_days, redirect_uris=(SPA_REDIRECT_URI,))


def code_with_pkce(live, seeded: OAuthSeed, username: str = "member") -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    code = get_code(live, seeded, username, scope="openid api", code_challenge=challenge,
                    code_challenge_method="S256")
    return code, verifier


def public_code_request(seeded: OAuthSeed, code: str, verifier: str | None) -> dict:
    data = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": seeded.redirect_uri, "client_id": seeded.client_id}
    if verifier is not None:
        data["code_verifier"] = verifier
    return data


def code_without_challenge(app, seeded: OAuthSeed) -> str:
    """A code stored with no ``code_challenge``, as a flaw in the authorization endpoint
    would store it: the token endpoint must still refuse it (defence in depth)."""
    with app.app_context():
        client = oauth_clients.find_client(seeded.client_id)
        user = db.session.get(User, seeded.legacy.member_id)
        code = create_code(client, user, redirect_uri=seeded.redirect_uri, scope="openid api",
                           nonce=None, code_challenge=None, auth_time=now())
        db.session.commit()
        return code


def userinfo(live, access_token: str) -> requests.Response:
    return requests.get(f"{live.url}/api/o/oauth/v2/userinfo", timeout=10,
                        headers={"Authorization": f"Bearer {access_token}"})


# --- the flow -------------------------------------------------------------------------


def test_public_client_full_flow_with_pkce_and_client_auth_none(app, live):
    seeded = seed_clients(app)
    assert seeded.client_secret == "", "a public client has no secret"
    meta = requests.get(f"{live.url}/.well-known/openid-configuration", timeout=10).json()
    assert "none" in meta["token_endpoint_auth_methods_supported"]
    assert "none" in meta["revocation_endpoint_auth_methods_supported"]
    assert "none" not in meta["introspection_endpoint_auth_methods_supported"]

    code, verifier = code_with_pkce(live, seeded)
    response = post(live, "token", public_code_request(seeded, code, verifier))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"] and body["id_token"]
    assert userinfo(live, body["access_token"]).status_code == 200

    # Revocation by client_id alone (RFC 7009 §2.1 allows public clients to).
    revoked = post(live, "revoke", {"token": body["refresh_token"],
                                    "client_id": seeded.client_id})
    assert revoked.status_code == 200, revoked.text
    assert userinfo(live, body["access_token"]).status_code == 401, \
        "revoking the refresh token takes its grant, and so its access token, with it"


def test_public_client_is_refused_at_introspection(app, live):
    """RFC 7662 §2.1: introspection is for protected resources, which must
    authenticate; a public client cannot, so it is refused (invalid_client)."""
    seeded = seed_clients(app)
    code, verifier = code_with_pkce(live, seeded)
    body = post(live, "token", public_code_request(seeded, code, verifier)).json()
    response = post(live, "introspect", {"token": body["access_token"],
                                         "client_id": seeded.client_id})
    assert_error(response, 401, "invalid_client")
    assert "active" not in response.json()


def test_public_client_without_pkce_is_refused(app, live):
    seeded = seed_clients(app)
    # At the authorization endpoint: no code_challenge, no code (RFC 9700 §2.1.1).
    browser = Browser(live.url)
    browser.login("member")
    page = browser.get(authorize_url(live.url, seeded.client_id, seeded.redirect_uri,
                                     scope="openid api"))
    assert page.status_code == 302, (page.status_code, page.text[:300])
    location = page.headers["Location"]
    assert location.startswith(seeded.redirect_uri + "?")
    assert query_of(location)["error"] == ["invalid_request"]
    assert "code" not in query_of(location)

    # At the token endpoint: a code stored without a challenge is refused...
    code = code_without_challenge(app, seeded)
    assert_error(post(live, "token", public_code_request(seeded, code, None)),
                 400, "invalid_grant")
    # ...and a code with one is refused without its verifier.
    code, _verifier = code_with_pkce(live, seeded)
    assert_error(post(live, "token", public_code_request(seeded, code, None)),
                 400, "invalid_grant")


def test_public_client_sending_a_secret_is_refused(app, live):
    seeded = seed_clients(app)
    code, verifier = code_with_pkce(live, seeded)
    request = public_code_request(seeded, code, verifier)
    for secret in ("anything", ""):
        assert_error(post(live, "token", {**request, "client_secret": secret}),
                     401, "invalid_client")
    for secret in ("anything", ""):
        assert_error(post(live, "token", request,
                          headers=basic_header(seeded.client_id, secret)),
                     401, "invalid_client")
    # None of these used the code up: the right request still gets tokens.
    assert post(live, "token", request).status_code == 200


def test_confidential_client_without_a_secret_is_refused(app, live):
    seeded = seed_clients(app, public=False)
    assert seeded.client_secret
    code, verifier = code_with_pkce(live, seeded)
    request = public_code_request(seeded, code, verifier)
    assert_error(post(live, "token", request), 401, "invalid_client")
    assert_error(post(live, "revoke", {"token": "x", "client_id": seeded.client_id}),
                 401, "invalid_client")
    assert post(live, "token", {**request, "client_secret": seeded.client_secret}
                ).status_code == 200


def test_unusable_or_unknown_public_client_is_refused(app, live):
    seeded = seed_clients(app)
    code, verifier = code_with_pkce(live, seeded)
    request = public_code_request(seeded, code, verifier)
    assert_error(post(live, "token", {**request, "client_id": "no-such-client"}),
                 401, "invalid_client")
    assert_error(post(live, "token", {k: v for k, v in request.items() if k != "client_id"}),
                 401, "invalid_client")
    with app.app_context():
        module = oauth_clients.get_module_by_name("Sample Module")
        oauth_clients.set_module_enabled(module, False)
        db.session.commit()
    assert_error(post(live, "token", request), 401, "invalid_client")


def test_public_client_refresh_rotates_with_reuse_detection(app, live):
    seeded = seed_clients(app)
    code, verifier = code_with_pkce(live, seeded)
    first = post(live, "token", public_code_request(seeded, code, verifier)).json()

    def refresh(token: str) -> requests.Response:
        return post(live, "token", {"grant_type": "refresh_token", "refresh_token": token,
                                    "client_id": seeded.client_id})

    second = refresh(first["refresh_token"])
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"], "rotated"
    assert userinfo(live, rotated["access_token"]).status_code == 200

    # The old refresh token again: theft, so the whole chain dies (RFC 9700 §4.14.2).
    assert_error(refresh(first["refresh_token"]), 400, "invalid_grant")
    assert_error(refresh(rotated["refresh_token"]), 400, "invalid_grant")
    assert userinfo(live, rotated["access_token"]).status_code == 401

    # A refresh with a secret, or without client_id, is refused as at the code exchange.
    code, verifier = code_with_pkce(live, seeded, "admin")
    fresh = post(live, "token", public_code_request(seeded, code, verifier)).json()
    assert_error(post(live, "token", {"grant_type": "refresh_token",
                                      "refresh_token": fresh["refresh_token"],
                                      "client_id": seeded.client_id, "client_secret": "x"}),
                 401, "invalid_client")
    assert_error(post(live, "token", {"grant_type": "refresh_token",
                                      "refresh_token": fresh["refresh_token"]}),
                 401, "invalid_client")
    assert refresh(fresh["refresh_token"]).status_code == 200


# --- confidential clients that require PKCE ----------------------------------------------


def test_confidential_client_with_require_pkce(app, live):
    seeded = seed_clients(app, public=False, require_pkce=True)
    credentials = {"client_id": seeded.client_id, "client_secret": seeded.client_secret}

    browser = Browser(live.url)
    browser.login("member")
    page = browser.get(authorize_url(live.url, seeded.client_id, seeded.redirect_uri,
                                     scope="openid api"))
    assert page.status_code == 302, (page.status_code, page.text[:300])
    assert query_of(page.headers["Location"])["error"] == ["invalid_request"]

    code = code_without_challenge(app, seeded)
    assert_error(post(live, "token", {**public_code_request(seeded, code, None),
                                      **credentials}), 400, "invalid_grant")

    code, verifier = code_with_pkce(live, seeded)
    response = post(live, "token", {**public_code_request(seeded, code, verifier),
                                    **credentials})
    assert response.status_code == 200, response.text


def test_client_without_require_pkce_still_may_skip_it(app, live):
    """Only clients that require PKCE are held to it: the contract's confidential
    clients may still send no challenge (contract §5)."""
    seeded = seed_clients(app, public=False)
    code = get_code(live, seeded, scope="openid api")
    response = post(live, "token", {**public_code_request(seeded, code, None),
                                    "client_secret": seeded.client_secret})
    assert response.status_code == 200, response.text
