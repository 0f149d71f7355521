"""Every error path of ``GET /api/o/oauth/v2/authorize`` (RFC 6749 §4.1.2.1, RFC 9207,
RFC 7636, contract §5), over real HTTP against the live server.

While the client or its redirect URI is in doubt the answer is a 400 page and no
redirect; after that, errors go back to the registered redirect URI with ``error``,
``state`` and ``iss``.
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from col_auth.core import oauth_clients
from col_auth.core.models import AuthorizationCode
from col_auth.extensions import db
from tests.helpers import PASSWORD, Browser, csrf_token, query_of
from tests.oauth.support import REDIRECT_URI, authorize_url, consent, pkce_pair, seed_client

AUTHORIZE = "/api/o/oauth/v2/authorize"
TOKEN = "/api/o/oauth/v2/token"
# A state that must come back byte for byte: spaces, reserved and non-ASCII characters.
TRICKY_STATE = "st 1&x=<y>/+%20ü"
SCRIPT = "<script>alert(1)</script>"


# --- helpers ----------------------------------------------------------------------


def member(live) -> Browser:
    browser = Browser(live.url)
    browser.login("member")
    return browser


def request_url(live, pairs) -> str:
    """The authorize URL with exactly these (name, value) pairs, repeats allowed."""
    return f"{live.url}{AUTHORIZE}?" + urlencode(list(pairs))


def base_params(seeded, **extra) -> dict[str, str]:
    params = {"client_id": seeded.client_id, "redirect_uri": seeded.redirect_uri,
              "response_type": "code", "response_mode": "query", "state": TRICKY_STATE}
    params.update(extra)
    return params


def without(params: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in params.items() if k not in names}


def assert_page_error(response: requests.Response) -> None:
    """A 400 HTML page, and nothing that sends the browser anywhere."""
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    assert "client.example" not in response.text
    assert "evil.example" not in response.text
    assert "<script>" not in response.text.lower()


def assert_redirect_error(response: requests.Response, live, seeded, error: str,
                          state: str = TRICKY_STATE, *,
                          in_fragment: bool = False) -> dict[str, list[str]]:
    """A redirect to the registered URI with ``error``, the exact ``state`` and ``iss``,
    in the query or (for response types answered there) the fragment."""
    assert response.status_code == 302, (response.status_code, response.text[:300])
    location = response.headers["Location"]
    if in_fragment:
        assert location.startswith(seeded.redirect_uri + "#"), location
        query = parse_qs(urlsplit(location).fragment)
    else:
        assert location.startswith(seeded.redirect_uri + "?"), location
        query = query_of(location)
    assert query["error"] == [error], query
    assert query["state"] == [state]
    assert query["iss"] == [live.url]
    assert "code" not in query
    return query


def code_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuthorizationCode))


def hidden_fields(page: str) -> dict[str, str]:
    found = re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', page)
    return {k: html.unescape(v) for k, v in found}


# --- 400 page, no redirect: the client or its redirect URI is in doubt -------------


def test_unknown_client_id(app, live):
    seeded = seed_client(app)
    browser = member(live)
    params = base_params(seeded, client_id="00000000-0000-0000-0000-000000000000")
    assert_page_error(browser.get(request_url(live, params.items())))


def test_missing_client_id(app, live):
    seeded = seed_client(app)
    browser = member(live)
    assert_page_error(browser.get(request_url(live, without(base_params(seeded),
                                                            "client_id").items())))


def test_empty_client_id(app, live):
    seeded = seed_client(app)
    browser = member(live)
    assert_page_error(browser.get(request_url(live, base_params(seeded, client_id="").items())))


def test_repeated_client_id_or_redirect_uri_is_a_page(app, live):
    seeded = seed_client(app)
    browser = member(live)
    params = base_params(seeded)
    for name in ("client_id", "redirect_uri"):
        pairs = list(params.items()) + [(name, params[name])]
        assert_page_error(browser.get(request_url(live, pairs)))


def test_expired_client(app, live, clock):
    seeded = seed_client(app, expires_days=1)
    browser = member(live)
    url = authorize_url(live.url, seeded.client_id, seeded.redirect_uri)
    assert browser.get(url).status_code == 200  # usable before it expires
    clock.advance(2 * 86400)
    assert_page_error(browser.get(url))
    assert code_count(app) == 0


def test_disabled_module(app, live):
    seeded = seed_client(app)
    browser = member(live)
    url = authorize_url(live.url, seeded.client_id, seeded.redirect_uri)
    assert browser.get(url).status_code == 200
    with app.app_context():
        module = oauth_clients.get_module_by_name("Sample Module")
        oauth_clients.set_module_enabled(module, False)
        db.session.commit()
    assert_page_error(browser.get(url))


def test_disabled_external_app(app, live):
    seeded = seed_client(app)
    browser = member(live)
    with app.app_context():
        module = oauth_clients.get_module_by_name("Sample Module")
        oauth_clients.configure_external_app(module.external_app, enabled=False)
        db.session.commit()
    assert_page_error(browser.get(authorize_url(live.url, seeded.client_id,
                                                seeded.redirect_uri)))


def test_missing_redirect_uri(app, live):
    seeded = seed_client(app)
    browser = member(live)
    assert_page_error(browser.get(request_url(live, without(base_params(seeded),
                                                            "redirect_uri").items())))


LOOK_ALIKES = [
    "https://client.example/callback/",
    "https://CLIENT.example/callback",
    "https://client.EXAMPLE/callback",
    "HTTPS://client.example/callback",
    "https://client.example/Callback",
    "https://client.example/callback?extra=1",
    "https://client.example/callback?",
    "https://client.example/callback#",
    "https://client.example/callback#frag",
    "https://client.example:443/callback",
    "http://client.example/callback",
    "https://client.example/callback/../evil",
    "https://client.example/callback/..%2Fevil",
    "https://client.example@evil.example/callback",
    "https://client.example%40evil.example/callback",
    "https://evil.example/callback",
    "https://client.example.evil.example/callback",
    "https://client.example/%63allback",
    "https://client.example/callback%2F",
    "https://client.example%2Fcallback",
    "https%3A%2F%2Fclient.example%2Fcallback",
    quote(REDIRECT_URI, safe=""),
    " https://client.example/callback",
    "https://client.example/callback ",
    "https://client.example/callback%00",
    "https://client.example/callback\n",
    "//client.example/callback",
    "/callback",
]


@pytest.mark.parametrize("redirect_uri", LOOK_ALIKES)
def test_unregistered_redirect_uri_look_alikes(app, live, redirect_uri):
    seeded = seed_client(app)
    assert redirect_uri != seeded.redirect_uri
    browser = member(live)
    assert_page_error(browser.get(request_url(live, base_params(
        seeded, redirect_uri=redirect_uri).items())))
    # The same with a request that would otherwise be an error sent to the redirect URI.
    assert_page_error(browser.get(request_url(live, base_params(
        seeded, redirect_uri=redirect_uri, response_type="token").items())))


def test_redirect_uri_of_another_client_is_refused(app, live):
    seeded = seed_client(app)
    with app.app_context():
        template = oauth_clients.find_client(seeded.client_id).template
        oauth_clients.create_client(template, name="Other client",
                                    redirect_uris=["https://other.example/callback"])
        db.session.commit()
    browser = member(live)
    assert_page_error(browser.get(request_url(live, base_params(
        seeded, redirect_uri="https://other.example/callback").items())))


def test_second_registered_redirect_uri_is_accepted(app, live):
    second = "http://127.0.0.1:8765/cb"
    seeded = seed_client(app, redirect_uris=(REDIRECT_URI, second))
    browser = member(live)
    response = consent(browser, authorize_url(live.url, seeded.client_id, second))
    assert response.headers["Location"].startswith(second + "?")


def test_attacker_input_is_not_echoed(app, live):
    seeded = seed_client(app)
    browser = member(live)
    for params in (
        base_params(seeded, client_id=SCRIPT),
        base_params(seeded, client_id='"><img src=x onerror=alert(1)>'),
        base_params(seeded, redirect_uri=REDIRECT_URI + "?" + SCRIPT),
        base_params(seeded, redirect_uri="https://evil.example/" + SCRIPT),
        base_params(seeded, client_id=SCRIPT, redirect_uri=SCRIPT),
    ):
        response = browser.get(request_url(live, params.items()))
        assert_page_error(response)
        assert SCRIPT not in response.text
        assert "onerror=alert" not in response.text


def test_attacker_input_is_not_echoed_through_the_misspelt_form(app, live):
    seed_client(app)
    browser = member(live)
    response = browser.get(f"{live.url}{AUTHORIZE}/client_id={quote(SCRIPT, safe='')}"
                           f"&redirect_uri={quote(SCRIPT, safe='')}&response_type=code")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).netloc in ("", urlsplit(live.url).netloc)
    followed = browser.get(response.headers["Location"])
    assert_page_error(followed)
    assert SCRIPT not in followed.text


# --- errors sent back to the registered redirect URI --------------------------------


def test_missing_response_type(app, live):
    seeded = seed_client(app)
    response = member(live).get(request_url(live, without(base_params(seeded),
                                                          "response_type").items()))
    assert_redirect_error(response, live, seeded, "invalid_request")


@pytest.mark.parametrize("response_type", ["CODE", "none", "code_id_token"])
def test_unsupported_response_type(app, live, response_type):
    seeded = seed_client(app)
    response = member(live).get(request_url(live, base_params(
        seeded, response_type=response_type).items()))
    assert_redirect_error(response, live, seeded, "unsupported_response_type")


@pytest.mark.parametrize("response_type", ["token", "id_token", "code token", "code id_token",
                                           "id_token token", "code id_token token"])
def test_unsupported_response_type_that_answers_in_the_fragment(app, live, response_type):
    """Issue 10 item 7: these types answer in the fragment (Multiple Response Types
    §5), so their error goes there too, even with response_mode=query asked for."""
    seeded = seed_client(app)
    response = member(live).get(request_url(live, base_params(
        seeded, response_type=response_type).items()))
    assert_redirect_error(response, live, seeded, "unsupported_response_type",
                          in_fragment=True)


@pytest.mark.parametrize("mode", ["jwt", "query.jwt", "web_message"])
def test_response_mode_other_than_query_or_form_post(app, live, mode):
    seeded = seed_client(app)
    response = member(live).get(request_url(live, base_params(seeded,
                                                              response_mode=mode).items()))
    query = assert_redirect_error(response, live, seeded, "invalid_request")
    assert "#" not in response.headers["Location"]
    assert query["error_description"]


def test_response_mode_fragment_is_refused_in_the_fragment(app, live):
    seeded = seed_client(app)
    response = member(live).get(request_url(live, base_params(
        seeded, response_mode="fragment").items()))
    assert_redirect_error(response, live, seeded, "invalid_request", in_fragment=True)


def test_missing_response_mode_means_query(app, live):
    seeded = seed_client(app)
    response = consent(member(live), request_url(live, without(base_params(seeded),
                                                               "response_mode").items()))
    assert query_of(response.headers["Location"])["code"]


@pytest.mark.parametrize(("scope", "granted"), [
    ("admin", "openid api"), ("openid admin", "openid"), ("OPENID", "openid api"),
    ("profile email", "openid profile email api"), ("api profile", "api"),
])
def test_unknown_scope_is_ignored(app, live, scope, granted):
    """OIDC Core §3.1.2.1 (issue 10 item 1): a value the server does not know is
    ignored, not refused; the consent page shows what will be granted."""
    seeded = seed_client(app)
    page = member(live).get(request_url(live, base_params(seeded, scope=scope).items()))
    assert page.status_code == 200, page.text[:300]
    assert re.findall(r"<li><strong>([a-z_]+)</strong>", page.text) == granted.split()


def test_scope_outside_the_template(app, live):
    seeded = seed_client(app, scopes="openid")
    browser = member(live)
    for scope in ("api", "openid api"):
        response = browser.get(request_url(live, base_params(seeded, scope=scope).items()))
        assert_redirect_error(response, live, seeded, "invalid_scope")
    assert code_count(app) == 0


def test_code_challenge_method_plain(app, live):
    seeded = seed_client(app)
    verifier, _ = pkce_pair()
    response = member(live).get(request_url(live, base_params(
        seeded, code_challenge=verifier[:43], code_challenge_method="plain").items()))
    assert_redirect_error(response, live, seeded, "invalid_request")


@pytest.mark.parametrize("method", ["s256", "SHA256", "S512", ""])
def test_code_challenge_method_other(app, live, method):
    seeded = seed_client(app)
    _, challenge = pkce_pair()
    response = member(live).get(request_url(live, base_params(
        seeded, code_challenge=challenge, code_challenge_method=method).items()))
    # An empty method with a challenge is a challenge without a method.
    assert_redirect_error(response, live, seeded, "invalid_request")


def test_code_challenge_without_method(app, live):
    seeded = seed_client(app)
    _, challenge = pkce_pair()
    response = member(live).get(request_url(live, base_params(
        seeded, code_challenge=challenge).items()))
    assert_redirect_error(response, live, seeded, "invalid_request")


def test_code_challenge_method_without_challenge(app, live):
    seeded = seed_client(app)
    response = member(live).get(request_url(live, base_params(
        seeded, code_challenge_method="S256").items()))
    assert_redirect_error(response, live, seeded, "invalid_request")


@pytest.mark.parametrize("challenge", [
    "short",
    "a" * 42,
    "a" * 44,
    "a" * 128,
    "a" * 42 + "=",
    "a" * 42 + "+",
    "a" * 42 + "/",
    "a" * 42 + " ",
    "a" * 21 + "%" + "a" * 21,
])
def test_malformed_code_challenge(app, live, challenge):
    seeded = seed_client(app)
    response = member(live).get(request_url(live, base_params(
        seeded, code_challenge=challenge, code_challenge_method="S256").items()))
    assert_redirect_error(response, live, seeded, "invalid_request")


@pytest.mark.parametrize("name", ["scope", "state", "response_type", "code_challenge",
                                  "nonce"])
def test_repeated_parameter(app, live, name):
    seeded = seed_client(app)
    _, challenge = pkce_pair()
    params = base_params(seeded, scope="openid", nonce="n-1", code_challenge=challenge,
                         code_challenge_method="S256")
    pairs = list(params.items()) + [(name, params[name])]
    response = member(live).get(request_url(live, pairs))
    assert_redirect_error(response, live, seeded, "invalid_request")


def test_repeated_scope_with_different_values(app, live):
    seeded = seed_client(app)
    pairs = list(base_params(seeded).items()) + [("scope", "openid"), ("scope", "api")]
    response = member(live).get(request_url(live, pairs))
    assert_redirect_error(response, live, seeded, "invalid_request")


def test_state_is_optional_and_absent_in_the_error(app, live):
    seeded = seed_client(app)
    params = without(base_params(seeded, response_type="CODE"), "state")
    response = member(live).get(request_url(live, params.items()))
    assert response.status_code == 302
    query = query_of(response.headers["Location"])
    assert query["error"] == ["unsupported_response_type"]
    assert "state" not in query
    assert query["iss"] == [live.url]


def test_redirect_uri_query_is_kept_in_errors(app, live):
    registered = "https://client.example/callback?tenant=a%20b&x=1"
    seeded = seed_client(app, redirect_uris=(registered,))
    response = member(live).get(request_url(live, base_params(
        seeded, response_type="CODE").items()))
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("https://client.example/callback?tenant=a%20b&x=1&")
    query = query_of(location)
    assert query["tenant"] == ["a b"] and query["x"] == ["1"]
    assert query["error"] == ["unsupported_response_type"]
    assert query["state"] == [TRICKY_STATE]


def test_redirect_errors_do_not_need_a_login(app, live):
    seeded = seed_client(app)
    response = Browser(live.url).get(request_url(live, base_params(
        seeded, code_challenge_method="plain", code_challenge="x" * 43).items()))
    assert_redirect_error(response, live, seeded, "invalid_request")


# --- no scope, login, cancel, the seed spelling ---------------------------------------


def test_no_scope_means_all_of_the_template(app, live):
    seeded = seed_client(app, scopes="openid api")
    browser = member(live)
    verifier, challenge = pkce_pair()
    url = request_url(live, base_params(seeded, code_challenge=challenge,
                                        code_challenge_method="S256").items())
    page = browser.get(url)
    assert page.status_code == 200
    levels = re.findall(r"<li><strong>([a-z]+)</strong>", page.text)
    assert levels == ["openid", "api"]
    response = consent(browser, url)
    query = query_of(response.headers["Location"])
    assert query["state"] == [TRICKY_STATE] and query["iss"] == [live.url]
    token = requests.post(f"{live.url}{TOKEN}", timeout=10, data={
        "grant_type": "authorization_code", "code": query["code"][0],
        "redirect_uri": seeded.redirect_uri, "code_verifier": verifier,
        "client_id": seeded.client_id, "client_secret": seeded.client_secret})
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "openid api"
    assert "id_token" in token.json()


def test_no_scope_with_an_openid_only_template(app, live):
    seeded = seed_client(app, scopes="openid")
    browser = member(live)
    url = request_url(live, base_params(seeded).items())
    page = browser.get(url)
    assert re.findall(r"<li><strong>([a-z]+)</strong>", page.text) == ["openid"]
    query = query_of(consent(browser, url).headers["Location"])
    token = requests.post(f"{live.url}{TOKEN}", timeout=10, data={
        "grant_type": "authorization_code", "code": query["code"][0],
        "redirect_uri": seeded.redirect_uri,
        "client_id": seeded.client_id, "client_secret": seeded.client_secret})
    assert token.json()["scope"] == "openid"


def test_not_logged_in_goes_to_login_and_comes_back(app, live):
    seeded = seed_client(app)
    browser = Browser(live.url)
    params = base_params(seeded, scope="openid api", nonce="n-1")
    url = request_url(live, params.items())
    response = browser.get(url)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    next_url = parse_qs(location.query)["next"][0]
    assert next_url.startswith(AUTHORIZE + "?")
    assert {k: v[0] for k, v in query_of(next_url).items()} == params
    assert code_count(app) == 0

    login_path = location.path + "?" + location.query
    page = browser.get(login_path)
    assert page.status_code == 200
    back = browser.post(login_path, data={"csrf_token": csrf_token(page.text),
                                          "username": "member", "password": PASSWORD})
    assert back.status_code == 302
    assert back.headers["Location"] in (next_url, live.url + next_url)
    consent_page = browser.get(back.headers["Location"])
    assert consent_page.status_code == 200
    assert hidden_fields(consent_page.text)["state"] == TRICKY_STATE


def test_cancel_is_access_denied_and_stores_no_code(app, live):
    seeded = seed_client(app)
    browser = member(live)
    response = consent(browser, request_url(live, base_params(seeded).items()),
                       button="cancel")
    query = assert_redirect_error(response, live, seeded, "access_denied")
    assert set(query) <= {"error", "error_description", "state", "iss"}
    assert code_count(app) == 0


def test_misspelt_seed_form_redirects_to_the_canonical_url(app, live):
    seeded = seed_client(app)
    params = {"client_id": seeded.client_id, "redirect_uri": seeded.redirect_uri,
              "scope": "openid", "response_type": "code", "state": "x"}
    encoded = f"{live.url}{AUTHORIZE}/" + urlencode(params)
    raw = (f"{live.url}{AUTHORIZE}/client_id={seeded.client_id}"
           f"&redirect_uri={seeded.redirect_uri}&scope=openid&response_type=code&state=x")
    browser = member(live)
    for url in (encoded, raw):
        response = browser.get(url)
        assert response.status_code == 302, (url, response.status_code)
        location = urlsplit(response.headers["Location"])
        assert location.netloc in ("", urlsplit(live.url).netloc)
        assert location.path == AUTHORIZE
        assert {k: v for k, v in parse_qs(location.query).items()} == {
            k: [v] for k, v in params.items()}, url
        # ... and the canonical URL works: a consent page the first time, and the
        # second time a code at once, the consent being remembered.
        page = browser.get(response.headers["Location"])
        assert page.status_code == (200 if url == encoded else 302)
        redirect = consent(browser, response.headers["Location"])
        query = query_of(redirect.headers["Location"])
        assert query["state"] == ["x"] and query["code"]


def test_misspelt_seed_form_with_a_query_part(app, live):
    """``/authorize/client_id=…&redirect_uri=…?scope=…``: both halves are kept."""
    seeded = seed_client(app)
    browser = member(live)
    response = browser.get(f"{live.url}{AUTHORIZE}/client_id={seeded.client_id}"
                           f"&redirect_uri={quote(seeded.redirect_uri, safe='')}"
                           "?scope=openid+api&response_type=code&state=a%26b")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == AUTHORIZE
    assert parse_qs(location.query) == {
        "client_id": [seeded.client_id], "redirect_uri": [seeded.redirect_uri],
        "scope": ["openid api"], "response_type": ["code"], "state": ["a&b"]}


def test_misspelt_seed_form_with_an_unregistered_redirect_uri_still_refused(app, live):
    seeded = seed_client(app)
    browser = member(live)
    response = browser.get(f"{live.url}{AUTHORIZE}/client_id={seeded.client_id}"
                           "&redirect_uri=https%3A%2F%2Fevil.example%2Fcallback"
                           "&scope=openid&response_type=code&state=x")
    assert response.status_code == 302
    assert_page_error(browser.get(response.headers["Location"]))


# --- the consent page -----------------------------------------------------------------


def test_consent_page(app, live):
    seeded = seed_client(app)
    browser = member(live)
    page = browser.get(authorize_url(live.url, seeded.client_id, seeded.redirect_uri,
                                     scope="openid api"))
    assert page.status_code == 200
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "no-store" in page.headers["Cache-Control"]
    assert csrf_token(page.text)
    assert "Sample Module" in page.text  # the external app's name (from the module)
    assert "Sample client" in page.text  # the client's name
    assert re.findall(r"<li><strong>([a-z]+)</strong>", page.text) == ["openid", "api"]
    assert 'name="allow"' in page.text and 'name="cancel"' in page.text


def test_consent_page_lists_only_the_requested_levels(app, live):
    seeded = seed_client(app)
    page = member(live).get(authorize_url(live.url, seeded.client_id, seeded.redirect_uri,
                                          scope="api"))
    assert re.findall(r"<li><strong>([a-z]+)</strong>", page.text) == ["api"]


def test_consent_page_escapes_state_and_nonce(app, live):
    seeded = seed_client(app)
    page = member(live).get(authorize_url(live.url, seeded.client_id, seeded.redirect_uri,
                                          state='"><script>x()</script>',
                                          nonce="<script>y()</script>"))
    assert page.status_code == 200
    assert "<script>" not in page.text
    fields = hidden_fields(page.text)
    assert fields["state"] == '"><script>x()</script>'
    assert fields["nonce"] == "<script>y()</script>"


def test_allow_without_csrf_is_refused(app, live):
    seeded = seed_client(app)
    browser = member(live)
    page = browser.get(authorize_url(live.url, seeded.client_id, seeded.redirect_uri))
    data = hidden_fields(page.text)
    data.pop("csrf_token", None)
    data["allow"] = "Allow"
    response = browser.post(AUTHORIZE, data=data)
    assert response.status_code == 400
    assert "Location" not in response.headers
    data["csrf_token"] = "forged"
    response = browser.post(AUTHORIZE, data=data)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert code_count(app) == 0


def test_allow_with_a_csrf_token_of_another_session_is_refused(app, live):
    seeded = seed_client(app)
    url = authorize_url(live.url, seeded.client_id, seeded.redirect_uri)
    attacker = member(live)
    token = csrf_token(attacker.get(url).text)
    victim = member(live)
    data = hidden_fields(victim.get(url).text)
    data.update(csrf_token=token, allow="Allow")
    response = victim.post(AUTHORIZE, data=data)
    assert response.status_code == 400
    assert code_count(app) == 0


def test_allow_with_a_tampered_redirect_uri_is_a_page(app, live):
    seeded = seed_client(app)
    browser = member(live)
    page = browser.get(authorize_url(live.url, seeded.client_id, seeded.redirect_uri))
    data = hidden_fields(page.text)
    data.update(csrf_token=csrf_token(page.text), allow="Allow",
                redirect_uri="https://evil.example/callback")
    response = browser.post(AUTHORIZE, data=data)
    assert_page_error(response)
    assert code_count(app) == 0


def test_allow_with_a_widened_scope_is_refused(app, live):
    seeded = seed_client(app, scopes="openid")
    browser = member(live)
    page = browser.get(authorize_url(live.url, seeded.client_id, seeded.redirect_uri))
    data = hidden_fields(page.text)
    data.update(csrf_token=csrf_token(page.text), allow="Allow", scope="openid api")
    response = browser.post(AUTHORIZE, data=data)
    assert_redirect_error(response, live, seeded, "invalid_scope", state="st-123")
    assert code_count(app) == 0


def test_allow_after_logout_is_refused(app, live):
    seeded = seed_client(app)
    browser = member(live)
    page = browser.get(authorize_url(live.url, seeded.client_id, seeded.redirect_uri))
    data = hidden_fields(page.text)
    data.update(csrf_token=csrf_token(page.text), allow="Allow")
    assert browser.submit("/logout", {}).status_code == 302
    response = browser.post(AUTHORIZE, data=data)
    assert response.status_code == 400
    assert "Location" not in response.headers or "code=" not in response.headers["Location"]
    assert code_count(app) == 0


def test_allow_stores_one_code(app, live):
    seeded = seed_client(app)
    response = consent(member(live), authorize_url(live.url, seeded.client_id,
                                                   seeded.redirect_uri))
    query = query_of(response.headers["Location"])
    assert query["state"] == ["st-123"] and query["iss"] == [live.url]
    assert len(query["code"]) == 1
    assert code_count(app) == 1
