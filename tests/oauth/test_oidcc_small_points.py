"""Small conformance points (issue 10, item 7) over HTTP.

- The JWKS key says ``use: "sig"`` and not also ``key_ops`` (RFC 7517 §4.3: the two
  SHOULD NOT be used together).
- Revocation answers 200 with ``application/json`` ``{}``, for a token it revoked and
  for one it does not know (RFC 7009 §2.2).
- A grant type the server knows but the client's template does not allow is
  ``unauthorized_client``; one the server does not know is ``unsupported_grant_type``
  (RFC 6749 §5.2). Discovery names only what a client may use.
"""

from __future__ import annotations

import pytest
import requests

from tests.oauth.support import get_code, seed_client

V2 = "/api/o/oauth/v2"


def _creds(seeded) -> dict[str, str]:
    return {"client_id": seeded.client_id, "client_secret": seeded.client_secret}


def _post(live, endpoint: str, data: dict) -> requests.Response:
    return requests.post(f"{live.url}{V2}/{endpoint}", data=data, timeout=10)


def _tokens(live, seeded) -> dict:
    response = _post(live, "token", {"grant_type": "authorization_code",
                                     "code": get_code(live, seeded),
                                     "redirect_uri": seeded.redirect_uri, **_creds(seeded)})
    assert response.status_code == 200, response.text
    return response.json()


def _assert_error(response: requests.Response, status: int, error: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["error"] == error, body
    assert "access_token" not in body
    return body


# --- JWKS -----------------------------------------------------------------------------


def test_jwks_key_has_use_sig_and_no_key_ops(app, live):
    response = requests.get(f"{live.url}{V2}/jwks", timeout=10)
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert key["use"] == "sig"
        assert "key_ops" not in key
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["kid"]
        assert "d" not in key and "p" not in key  # the public half only


# --- revocation -----------------------------------------------------------------------


def _assert_empty_json(response: requests.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].split(";")[0].strip() == "application/json"
    assert response.json() == {}
    assert response.headers["Cache-Control"] == "no-store"


def test_revocation_answers_an_empty_json_object(app, live):
    seeded = seed_client(app)
    issued = _tokens(live, seeded)
    _assert_empty_json(_post(live, "revoke", {"token": issued["access_token"],
                                              "token_type_hint": "access_token",
                                              **_creds(seeded)}))
    _assert_empty_json(_post(live, "revoke", {"token": issued["refresh_token"],
                                              **_creds(seeded)}))
    # Already revoked, and never known: the same answer (RFC 7009 §2.2).
    _assert_empty_json(_post(live, "revoke", {"token": issued["refresh_token"],
                                              **_creds(seeded)}))
    _assert_empty_json(_post(live, "revoke", {"token": "col_rt_unknown", **_creds(seeded)}))


# --- grant types ----------------------------------------------------------------------

KNOWN_NOT_ALLOWED = [
    "password",
    "client_credentials",
    "implicit",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:grant-type:saml2-bearer",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:openid:params:grant-type:ciba",
]


@pytest.mark.parametrize("grant_type", KNOWN_NOT_ALLOWED)
def test_unauthorized_client_for_a_grant_type_the_template_does_not_allow(app, live,
                                                                          grant_type):
    seeded = seed_client(app)
    response = _post(live, "token", {"grant_type": grant_type, "username": "member",
                                     "password": "x", "scope": "openid", **_creds(seeded)})
    body = _assert_error(response, 400, "unauthorized_client")
    assert "authorization_code" in body["error_description"]


@pytest.mark.parametrize("grant_type", ["AUTHORIZATION_CODE", "Refresh_Token", "magic",
                                        "urn:example:grant-type:made-up", " password"])
def test_unsupported_grant_type_for_one_the_server_does_not_know(app, live, grant_type):
    seeded = seed_client(app)
    _assert_error(_post(live, "token", {"grant_type": grant_type, **_creds(seeded)}),
                  400, "unsupported_grant_type")


def test_the_client_is_authenticated_before_its_grant_type_is_judged(app, live):
    seeded = seed_client(app)
    for grant_type in ("client_credentials", "magic"):
        _assert_error(_post(live, "token", {"grant_type": grant_type,
                                            "client_id": seeded.client_id,
                                            "client_secret": "wrong"}),
                      401, "invalid_client")


def test_known_grant_types_are_the_allowed_ones_and_the_refused_ones():
    from col_auth.core import grant_types

    assert grant_types.TEMPLATE_GRANT_TYPES == ("authorization_code", "refresh_token")
    assert set(grant_types.KNOWN) == {*grant_types.TEMPLATE_GRANT_TYPES, *KNOWN_NOT_ALLOWED}


@pytest.mark.parametrize("document", ["openid-configuration", "oauth-authorization-server"])
def test_discovery_names_only_the_grant_types_a_client_may_use(app, live, document):
    from col_auth.core import grant_types

    meta = requests.get(f"{live.url}/.well-known/{document}", timeout=10).json()
    assert sorted(meta["grant_types_supported"]) == sorted(grant_types.TEMPLATE_GRANT_TYPES)
    # And both of them work for a client of any template.
    seeded = seed_client(app)
    issued = _tokens(live, seeded)
    refreshed = _post(live, "token", {"grant_type": "refresh_token",
                                      "refresh_token": issued["refresh_token"],
                                      **_creds(seeded)})
    assert refreshed.status_code == 200, refreshed.text
