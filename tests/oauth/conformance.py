"""What the OpenID conformance suite's Basic and Config OP modules do, as a client
would do it over HTTP: a browser that signs in, authorization requests, the code
exchange, the id_token checked against the published keys, UserInfo."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import requests

from tests.helpers import Browser, csrf_token, query_of
from tests.oauth.support import OAuthSeed

V2 = "/api/o/oauth/v2"


def member(live, username: str = "member") -> Browser:
    browser = Browser(live.url)
    browser.login(username)
    return browser


def authorize_params(seeded: OAuthSeed, **extra: str) -> dict[str, str]:
    params = {"client_id": seeded.client_id, "redirect_uri": seeded.redirect_uri,
              "response_type": "code", "scope": "openid", "state": "st-1", "nonce": "n-1"}
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def authorize(browser: Browser, live, seeded: OAuthSeed, **extra: str) -> requests.Response:
    return browser.get(f"{live.url}{V2}/authorize?" + urlencode(authorize_params(seeded, **extra)))


def is_consent_page(response: requests.Response) -> bool:
    return response.status_code == 200 and 'name="allow"' in response.text


def press(browser: Browser, page: requests.Response, button: str = "allow") -> requests.Response:
    """Press a button of the consent page ``page``."""
    assert is_consent_page(page), (page.status_code, page.text[:300])
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">',
                             page.text))
    data = {k: html.unescape(v) for k, v in hidden.items()}
    data["csrf_token"] = csrf_token(page.text)
    data[button] = button.capitalize()
    return browser.post(f"{V2}/authorize", data=data)


def redirect_values(response: requests.Response, seeded: OAuthSeed) -> dict[str, str]:
    """The query values of a redirect to the client (one value each)."""
    assert response.status_code == 302, (response.status_code, response.text[:300])
    location = response.headers["Location"]
    assert location.startswith(seeded.redirect_uri + "?"), location
    return {k: v[0] for k, v in query_of(location).items()}


def fragment_values(response: requests.Response, seeded: OAuthSeed) -> dict[str, str]:
    assert response.status_code == 302, (response.status_code, response.text[:300])
    location = response.headers["Location"]
    assert location.startswith(seeded.redirect_uri + "#"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}


def code_after_consent(browser: Browser, live, seeded: OAuthSeed, **extra: str) -> str:
    """A code: through the consent page if it shows, at once if the consent is remembered."""
    response = authorize(browser, live, seeded, **extra)
    if is_consent_page(response):
        response = press(browser, response)
    return redirect_values(response, seeded)["code"]


def exchange(live, seeded: OAuthSeed, code: str, **extra: str) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": seeded.redirect_uri, "client_id": seeded.client_id,
            "client_secret": seeded.client_secret, **extra}
    return requests.post(f"{live.url}{V2}/token", data=data, timeout=10)


def tokens(live, seeded: OAuthSeed, code: str, **extra: str) -> dict:
    response = exchange(live, seeded, code, **extra)
    assert response.status_code == 200, response.text
    return response.json()


def id_token_claims(live, seeded: OAuthSeed, id_token: str) -> dict:
    """The id_token's claims, its signature checked with the published JWKS."""
    meta = requests.get(f"{live.url}/.well-known/openid-configuration", timeout=10).json()
    keys = jwt.PyJWKClient(meta["jwks_uri"])
    key = keys.get_signing_key_from_jwt(id_token)
    # ``iat`` is not checked against this machine's clock: tests move the server's.
    return jwt.decode(id_token, key.key, algorithms=["RS256"], audience=seeded.client_id,
                      issuer=live.url, options={"verify_iat": False})


def userinfo(live, access_token: str) -> requests.Response:
    return requests.get(f"{live.url}{V2}/userinfo", timeout=10,
                        headers={"Authorization": f"Bearer {access_token}"})
