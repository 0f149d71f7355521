"""Issue 10 item 2: ``prompt``, ``max_age``, the hints and remembered consent
(OIDC Core §3.1.2.1–§3.1.2.6), after the conformance suite's modules of those names."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import PASSWORD, Browser, csrf_token
from tests.oauth.conformance import (
    authorize,
    code_after_consent,
    id_token_claims,
    is_consent_page,
    member,
    press,
    redirect_values,
    tokens,
    userinfo,
)
from tests.oauth.support import seed_client


def _login_redirect(response) -> str:
    """The login page a redirect sends the browser to, with its ``next``."""
    assert response.status_code == 302, (response.status_code, response.text[:300])
    location = response.headers["Location"]
    assert urlsplit(location).path == "/login", location
    return location


def _sign_in_at(browser: Browser, login_url: str, username: str = "member"):
    """Sign in on the login page ``login_url`` and follow ``next`` back."""
    page = browser.get(login_url)
    assert page.status_code == 200
    back = browser.post(login_url, data={"csrf_token": csrf_token(page.text),
                                         "username": username, "password": PASSWORD})
    assert back.status_code == 302, back.text[:300]
    return browser.get(back.headers["Location"])


def _consented(app, live, **template):
    """A client, and a member who has allowed it ``openid`` once; the first id_token."""
    seeded = seed_client(app, **template)
    browser = member(live)
    first = tokens(live, seeded, code_after_consent(browser, live, seeded))
    return seeded, browser, id_token_claims(live, seeded, first["id_token"]), first


# --- prompt=none ---------------------------------------------------------------------


def test_oidcc_prompt_none_not_logged_in(app, live):
    seeded = seed_client(app)
    response = authorize(Browser(live.url), live, seeded, prompt="none")
    values = redirect_values(response, seeded)
    assert values["error"] == "login_required"
    assert values["state"] == "st-1" and values["iss"] == live.url
    assert "code" not in values


def test_oidcc_prompt_none_logged_in(app, live):
    seeded, browser, first, _ = _consented(app, live)
    response = authorize(browser, live, seeded, prompt="none", nonce="n-2")
    values = redirect_values(response, seeded)  # a code, and no page on the way
    issued = tokens(live, seeded, values["code"])
    claims = id_token_claims(live, seeded, issued["id_token"])
    assert claims["sub"] == first["sub"] and claims["nonce"] == "n-2"


def test_prompt_none_without_a_remembered_consent_is_consent_required(app, live):
    seeded = seed_client(app)
    values = redirect_values(authorize(member(live), live, seeded, prompt="none"), seeded)
    assert values["error"] == "consent_required"


def test_prompt_none_for_more_scopes_than_allowed_is_consent_required(app, live):
    seeded, browser, _, _ = _consented(app, live)
    values = redirect_values(authorize(browser, live, seeded, prompt="none",
                                       scope="openid email"), seeded)
    assert values["error"] == "consent_required"


def test_prompt_none_with_another_value_is_invalid_request(app, live):
    seeded, browser, _, _ = _consented(app, live)
    values = redirect_values(authorize(browser, live, seeded, prompt="none login"), seeded)
    assert values["error"] == "invalid_request"


# --- remembered consent ----------------------------------------------------------------


def test_remembered_consent_skips_the_page_for_the_same_or_fewer_scopes(app, live):
    seeded = seed_client(app)
    browser = member(live)
    code_after_consent(browser, live, seeded, scope="openid api email")
    for scope in ("openid api email", "openid", "api", "email openid"):
        response = authorize(browser, live, seeded, scope=scope)
        assert redirect_values(response, seeded)["code"], scope
    wider = authorize(browser, live, seeded, scope="openid api email phone")
    assert is_consent_page(wider)


def test_consent_is_per_user_and_per_client(app, live):
    seeded = seed_client(app)
    code_after_consent(member(live), live, seeded)
    assert is_consent_page(authorize(member(live, "admin"), live, seeded))


def test_cancel_remembers_nothing(app, live):
    seeded = seed_client(app)
    browser = member(live)
    page = authorize(browser, live, seeded)
    assert redirect_values(press(browser, page, "cancel"), seeded)["error"] == "access_denied"
    assert is_consent_page(authorize(browser, live, seeded))


def test_oidcc_prompt_consent_shows_the_page_even_if_remembered(app, live):
    seeded, browser, _, _ = _consented(app, live)
    page = authorize(browser, live, seeded, prompt="consent")
    assert is_consent_page(page)
    assert redirect_values(press(browser, page), seeded)["code"]


def test_revoking_in_the_profile_forgets_the_consent_and_stops_its_tokens(app, live):
    seeded, browser, _, first = _consented(app, live)
    profile = browser.get("/profile")
    assert "Sample client" in profile.text
    actions = re.findall(r'action="(/profile/connections/[^"]+/revoke)"', profile.text)
    assert len(actions) == 1  # one row for the client, however many grants
    response = browser.post(actions[0], data={"csrf_token": csrf_token(profile.text)})
    assert response.status_code == 302
    assert userinfo(live, first["access_token"]).status_code == 401
    values = redirect_values(authorize(browser, live, seeded, prompt="none"), seeded)
    assert values["error"] == "consent_required"
    assert "Sample client" not in browser.get("/profile").text


def test_the_profile_lists_a_client_once_however_many_grants(app, live):
    seeded, browser, _, _ = _consented(app, live)
    for _ in range(3):
        tokens(live, seeded, code_after_consent(browser, live, seeded))
    profile = browser.get("/profile").text
    assert profile.count("Sample client") == 1


# --- prompt=login, select_account, max_age ---------------------------------------------------


def test_oidcc_prompt_login(app, live, clock):
    seeded, browser, first, _ = _consented(app, live)
    clock.advance(5)
    login_url = _login_redirect(authorize(browser, live, seeded, prompt="login"))
    assert "prompt" not in parse_qs(urlsplit(login_url).query)  # no second round
    values = redirect_values(_sign_in_at(browser, login_url), seeded)
    claims = id_token_claims(live, seeded, tokens(live, seeded, values["code"])["id_token"])
    assert claims["auth_time"] >= first["auth_time"] + 5


def test_prompt_select_account_shows_the_login_page(app, live):
    seeded, browser, _, _ = _consented(app, live)
    login_url = _login_redirect(authorize(browser, live, seeded, prompt="select_account"))
    values = redirect_values(_sign_in_at(browser, login_url), seeded)
    assert values["code"]


def test_oidcc_max_age_1(app, live, clock):
    seeded, browser, first, _ = _consented(app, live)
    clock.advance(2)
    login_url = _login_redirect(authorize(browser, live, seeded, max_age="1"))
    values = redirect_values(_sign_in_at(browser, login_url), seeded)
    claims = id_token_claims(live, seeded, tokens(live, seeded, values["code"])["id_token"])
    assert claims["auth_time"] >= first["auth_time"] + 2


def test_oidcc_max_age_10000(app, live, clock):
    seeded, browser, first, _ = _consented(app, live)
    clock.advance(60)
    values = redirect_values(authorize(browser, live, seeded, max_age="10000"), seeded)
    claims = id_token_claims(live, seeded, tokens(live, seeded, values["code"])["id_token"])
    assert claims["auth_time"] == first["auth_time"]


def test_max_age_older_than_the_sign_in_with_prompt_none_is_login_required(app, live, clock):
    seeded, browser, _, _ = _consented(app, live)
    clock.advance(30)
    values = redirect_values(authorize(browser, live, seeded, max_age="10", prompt="none"),
                             seeded)
    assert values["error"] == "login_required"


@pytest.mark.parametrize("max_age", ["-1", "ten", "1.5", "١"])
def test_a_malformed_max_age_is_invalid_request(app, live, max_age):
    seeded, browser, _, _ = _consented(app, live)
    values = redirect_values(authorize(browser, live, seeded, max_age=max_age), seeded)
    assert values["error"] == "invalid_request"


# --- id_token_hint and login_hint ---------------------------------------------------------


def test_oidcc_id_token_hint(app, live):
    seeded, browser, _, first = _consented(app, live)
    response = authorize(browser, live, seeded, prompt="none", id_token_hint=first["id_token"])
    assert redirect_values(response, seeded)["code"]


def test_an_expired_id_token_hint_is_still_a_hint(app, live, clock):
    seeded, browser, _, first = _consented(app, live)
    clock.advance(3600)  # the id_token lived 10 minutes; the sign-in lasts 8 hours
    response = authorize(browser, live, seeded, prompt="none", id_token_hint=first["id_token"])
    assert redirect_values(response, seeded)["code"]


def test_an_id_token_hint_for_someone_else_with_prompt_none_is_login_required(app, live):
    seeded, _, _, first = _consented(app, live)
    other = member(live, "admin")
    code_after_consent(other, live, seeded)
    response = authorize(other, live, seeded, prompt="none", id_token_hint=first["id_token"])
    assert redirect_values(response, seeded)["error"] == "login_required"


def test_an_id_token_hint_for_someone_else_asks_for_a_sign_in(app, live):
    seeded, _, _, first = _consented(app, live)
    other = member(live, "admin")
    _login_redirect(authorize(other, live, seeded, id_token_hint=first["id_token"]))


@pytest.mark.parametrize("hint", ["not-a-jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_a_forged_id_token_hint_is_invalid_request(app, live, hint):
    seeded, browser, _, _ = _consented(app, live)
    values = redirect_values(authorize(browser, live, seeded, id_token_hint=hint), seeded)
    assert values["error"] == "invalid_request"


def test_an_id_token_hint_signed_by_another_key_is_invalid_request(app, live):
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    seeded, browser, first, _ = _consented(app, live)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(dict(first), key, algorithm="RS256")
    values = redirect_values(authorize(browser, live, seeded, id_token_hint=forged), seeded)
    assert values["error"] == "invalid_request"


def test_oidcc_login_hint(app, live):
    seeded = seed_client(app)
    login_url = _login_redirect(authorize(Browser(live.url), live, seeded,
                                          login_hint="Member"))
    page = Browser(live.url).get(login_url)
    assert re.search(r'name="username"[^>]*value="Member"', page.text), page.text[:2000]


# --- parameters accepted without error ---------------------------------------------------------


@pytest.mark.parametrize("extra", [
    {"display": "page"}, {"display": "popup"}, {"ui_locales": "se"},
    {"claims_locales": "se"}, {"acr_values": "1 2"},
    {"extra_parameter": "foobar"}, {"claims": '{"userinfo": {"name": {"essential": true}}}'},
], ids=["oidcc_display_page", "oidcc_display_popup", "oidcc_ui_locales",
        "oidcc_claims_locales", "oidcc_ensure_request_with_acr_values_succeeds",
        "oidcc_ensure_request_with_unknown_parameter_succeeds", "oidcc_claims_essential"])
def test_accepted_without_error(app, live, extra):
    seeded, browser, _, _ = _consented(app, live)
    assert redirect_values(authorize(browser, live, seeded, **extra), seeded)["code"]
