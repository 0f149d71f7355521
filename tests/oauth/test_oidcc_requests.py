"""Issue 10 item 3 and the request-handling modules of the Basic OP plan: the
authorization request by POST, request objects refused as unsupported, form_post,
response types, redirect URIs, code reuse and PKCE."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import time
from urllib.parse import urlencode

import pytest
import requests

from tests.helpers import Browser
from tests.oauth.conformance import (
    V2,
    authorize,
    authorize_params,
    code_after_consent,
    exchange,
    fragment_values,
    is_consent_page,
    member,
    press,
    redirect_values,
    tokens,
)
from tests.oauth.support import pkce_pair, seed_client


def _consented(app, live):
    seeded = seed_client(app)
    browser = member(live)
    code_after_consent(browser, live, seeded)
    return seeded, browser


def _assert_page_error(response) -> None:
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")


# --- POST ------------------------------------------------------------------------------


def test_oidcc_ensure_post_request_succeeds(app, live):
    """OIDC Core §3.1.2.1: the authorization endpoint takes POST as well as GET, and
    the request itself needs no CSRF token (it changes nothing until the user acts)."""
    seeded = seed_client(app)
    browser = member(live)
    page = browser.post(f"{V2}/authorize", data=authorize_params(seeded))
    assert is_consent_page(page)
    values = redirect_values(press(browser, page), seeded)
    assert tokens(live, seeded, values["code"])["id_token"]
    # Remembered: the same POST now answers with a code, no page.
    again = browser.post(f"{V2}/authorize", data=authorize_params(seeded))
    assert redirect_values(again, seeded)["code"]


def test_post_request_before_sign_in_comes_back_after_it(app, live):
    seeded = seed_client(app)
    browser = Browser(live.url)
    response = browser.post(f"{V2}/authorize", data=authorize_params(seeded, state="via-post"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?")
    browser.login("member")
    page = browser.get(f"{V2}/authorize?" + urlencode(authorize_params(seeded,
                                                                        state="via-post")))
    assert is_consent_page(page)


def test_consent_decision_still_needs_its_csrf_token(app, live):
    seeded = seed_client(app)
    browser = member(live)
    page = authorize(browser, live, seeded)
    assert is_consent_page(page)
    forged = browser.post(f"{V2}/authorize", data={**authorize_params(seeded), "allow": "Allow"})
    assert forged.status_code == 400
    assert "Location" not in forged.headers


# --- request objects ---------------------------------------------------------------------


def test_oidcc_ensure_request_object_rejected(app, live):
    seeded, browser = _consented(app, live)
    values = redirect_values(authorize(browser, live, seeded, request="eyJhbGciOiJub25lIn0."
                                       "eyJzY29wZSI6Im9wZW5pZCJ9."), seeded)
    assert values["error"] == "request_not_supported"
    assert "code" not in values


def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(app, live):
    seeded, _ = _consented(app, live)
    values = redirect_values(authorize(Browser(live.url), live, seeded,
                                       request="eyJhbGciOiJub25lIn0.e30."), seeded)
    assert values["error"] == "request_not_supported"


def test_oidcc_ensure_request_object_with_redirect_uri(app, live):
    """A request object whose redirect_uri the query repeats (OIDC Core §6.1): the
    redirect URI is good, so the refusal goes back to it."""
    seeded, browser = _consented(app, live)
    import jwt as pyjwt

    request_object = pyjwt.encode({"client_id": seeded.client_id, "redirect_uri":
                                   seeded.redirect_uri, "response_type": "code",
                                   "scope": "openid"}, key="", algorithm="none")
    values = redirect_values(authorize(browser, live, seeded, request=request_object), seeded)
    assert values["error"] == "request_not_supported" and values["state"] == "st-1"


def test_request_uri_is_rejected_as_unsupported(app, live):
    seeded, browser = _consented(app, live)
    values = redirect_values(authorize(browser, live, seeded,
                                       request_uri="https://client.example/request.jwt"), seeded)
    assert values["error"] == "request_uri_not_supported"


def test_discovery_says_what_the_authorization_endpoint_takes(app, live):
    meta = requests.get(f"{live.url}/.well-known/openid-configuration", timeout=10).json()
    assert meta["request_parameter_supported"] is False
    assert meta["request_uri_parameter_supported"] is False
    assert meta["claims_parameter_supported"] is False
    assert meta["response_modes_supported"] == ["query", "form_post"]
    assert meta["response_types_supported"] == ["code"]


# --- response types and modes -------------------------------------------------------------


def test_oidcc_response_type_missing(app, live):
    seeded, browser = _consented(app, live)
    values = redirect_values(authorize(browser, live, seeded, response_type=None), seeded)
    assert values["error"] == "invalid_request"


def test_implicit_and_hybrid_response_types_are_refused_in_the_fragment(app, live):
    seeded, browser = _consented(app, live)
    for response_type in ("id_token", "id_token token", "code id_token"):
        values = fragment_values(authorize(browser, live, seeded, response_type=response_type),
                                 seeded)
        assert values["error"] == "unsupported_response_type"
        assert values["state"] == "st-1"


def _form_post_fields(page: str) -> tuple[str, dict[str, str]]:
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))
    fields = {html.unescape(k): html.unescape(v) for k, v in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}
    return action, fields


def test_form_post_response_mode(app, live):
    """OAuth 2.0 Form Post Response Mode §2: a page that posts the answer by itself,
    under a CSP that allows exactly its one script and a post to the redirect URI."""
    seeded, browser = _consented(app, live)
    response = authorize(browser, live, seeded, response_mode="form_post", state="a&b<c>")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    action, fields = _form_post_fields(response.text)
    assert action == seeded.redirect_uri
    assert set(fields) == {"code", "state", "iss"}
    assert fields["state"] == "a&b<c>" and fields["iss"] == live.url
    assert "<c>" not in response.text  # escaped, not echoed
    csp = response.headers["Content-Security-Policy"]
    script = re.search(r"<script>(.*?)</script>", response.text, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    assert "form-action https://client.example/callback" in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert tokens(live, seeded, fields["code"])["access_token"]


def test_form_post_after_the_consent_page(app, live):
    seeded = seed_client(app)
    browser = member(live)
    page = authorize(browser, live, seeded, response_mode="form_post")
    answer = press(browser, page)
    assert answer.status_code == 200
    _action, fields = _form_post_fields(answer.text)
    assert fields["code"]


def test_form_post_errors_are_posted_too(app, live):
    seeded = seed_client(app)
    response = authorize(Browser(live.url), live, seeded, response_mode="form_post",
                         prompt="none")
    assert response.status_code == 200
    action, fields = _form_post_fields(response.text)
    assert action == seeded.redirect_uri
    assert fields["error"] == "login_required" and fields["state"] == "st-1"


# --- redirect URIs ------------------------------------------------------------------------------


def test_oidcc_ensure_registered_redirect_uri(app, live):
    seeded, browser = _consented(app, live)
    for uri in ("https://evil.example/callback", seeded.redirect_uri + "/",
                seeded.redirect_uri + "?x=1", seeded.redirect_uri.upper()):
        _assert_page_error(authorize(browser, live, seeded, redirect_uri=uri))


def test_oidcc_ensure_redirect_uri_in_authorization_request(app, live):
    seeded, browser = _consented(app, live)
    _assert_page_error(authorize(browser, live, seeded, redirect_uri=None))


# --- codes and PKCE ------------------------------------------------------------------------------


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(app, live):
    seeded, browser = _consented(app, live)
    values = redirect_values(authorize(browser, live, seeded, nonce=None), seeded)
    assert tokens(live, seeded, values["code"])["id_token"]


def test_oidcc_codereuse(app, live):
    seeded, browser = _consented(app, live)
    code = redirect_values(authorize(browser, live, seeded), seeded)["code"]
    first = tokens(live, seeded, code)
    second = exchange(live, seeded, code)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: what the first use issued is revoked.
    info = requests.get(f"{live.url}{V2}/userinfo", timeout=10,
                        headers={"Authorization": f"Bearer {first['access_token']}"})
    assert info.status_code == 401


def test_oidcc_codereuse_30seconds(app, live, clock):
    seeded, browser = _consented(app, live)
    code = redirect_values(authorize(browser, live, seeded), seeded)["code"]
    first = tokens(live, seeded, code)
    clock.advance(30)
    assert exchange(live, seeded, code).json()["error"] == "invalid_grant"
    refreshed = requests.post(f"{live.url}{V2}/token", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
        "client_id": seeded.client_id, "client_secret": seeded.client_secret})
    assert refreshed.json()["error"] == "invalid_grant"


def test_oidcc_ensure_request_with_valid_pkce_succeeds(app, live):
    seeded, browser = _consented(app, live)
    verifier, challenge = pkce_pair()
    values = redirect_values(authorize(browser, live, seeded, code_challenge=challenge,
                                       code_challenge_method="S256"), seeded)
    assert tokens(live, seeded, values["code"], code_verifier=verifier)["access_token"]


@pytest.mark.parametrize("sent", ["wrong", "missing"])
def test_a_wrong_code_verifier_uses_up_the_code(app, live, sent):
    seeded, browser = _consented(app, live)
    verifier, challenge = pkce_pair()
    values = redirect_values(authorize(browser, live, seeded, code_challenge=challenge,
                                       code_challenge_method="S256"), seeded)
    wrong = {"code_verifier": pkce_pair()[0]} if sent == "wrong" else {}
    refused = exchange(live, seeded, values["code"], **wrong)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    # The right verifier comes too late: the code is spent.
    late = exchange(live, seeded, values["code"], code_verifier=verifier)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


def test_a_code_is_bound_to_its_nonce_and_auth_time(app, live):
    seeded, browser = _consented(app, live)
    values = redirect_values(authorize(browser, live, seeded, nonce="fresh-nonce"), seeded)
    issued = tokens(live, seeded, values["code"])
    from tests.oauth.conformance import id_token_claims

    claims = id_token_claims(live, seeded, issued["id_token"])
    assert claims["nonce"] == "fresh-nonce"
    assert claims["auth_time"] <= time.time() + 5
