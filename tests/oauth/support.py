"""OAuth2 test support: a client registered in the store, and a person who consents."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from col_auth.core import oauth_clients
from col_auth.extensions import db
from tests.helpers import Browser, csrf_token, query_of, seed

REDIRECT_URI = "https://client.example/callback"


@dataclass
class OAuthSeed:
    client_id: str
    client_secret: str
    redirect_uri: str
    legacy: object  # tests.helpers.Seed


def seed_client(app, *, scopes: str = "openid api", expires_days: int | None = None,
                redirect_uris: tuple[str, ...] = (REDIRECT_URI,), legacy=None,
                post_logout_redirect_uris: tuple[str, ...] = (), public: bool = False,
                require_pkce: bool = False) -> OAuthSeed:
    """A client of module "Sample Module"; a public one has ``client_secret`` ""."""
    legacy = legacy or seed(app)
    with app.app_context():
        module = oauth_clients.create_module("Sample Module", "Does sample things")
        oauth_clients.ensure_external_app_enabled(module)
        template = oauth_clients.create_template(module.external_app, "Sample template", scopes)
        client, secret = oauth_clients.create_client(
            template, name="Sample client", redirect_uris=list(redirect_uris),
            expires_days=expires_days, public=public, require_pkce=require_pkce,
            post_logout_redirect_uris=list(post_logout_redirect_uris))
        db.session.commit()
        return OAuthSeed(client.client_id, secret or "", redirect_uris[0], legacy)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(base: str, client_id: str, redirect_uri: str, **extra: str) -> str:
    params = {"client_id": client_id, "redirect_uri": redirect_uri,
              "response_type": "code", "response_mode": "query", "state": "st-123"}
    params.update(extra)
    return f"{base}/api/o/oauth/v2/authorize?" + urlencode(params)


def consent(browser: Browser, url: str, button: str = "allow"):
    """Open the consent page at ``url`` and press a button; returns the redirect."""
    page = browser.get(url)
    if button == "allow" and page.status_code == 302 and "code=" in page.headers["Location"]:
        return page  # allowed before: the consent is remembered and no page is shown
    assert page.status_code == 200, (page.status_code, page.text[:400])
    import re

    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', page.text))
    import html

    data = {k: html.unescape(v) for k, v in hidden.items()}
    data["csrf_token"] = csrf_token(page.text)
    data[button] = button.capitalize()
    response = browser.post("/api/o/oauth/v2/authorize", data=data)
    assert response.status_code == 302, (response.status_code, response.text[:400])
    return response


def get_code(live, seeded: OAuthSeed, username: str = "member", **extra: str) -> str:
    browser = Browser(live.url)
    browser.login(username)
    response = consent(browser, authorize_url(live.url, seeded.client_id,
                                              seeded.redirect_uri, **extra))
    return query_of(response.headers["Location"])["code"][0]
