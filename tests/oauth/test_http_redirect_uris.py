"""``ALLOW_HTTP_REDIRECT_URIS`` (issue 10, item 6): on-premises installs reach intranet
services over plain http. Off by default; loopback http is always allowed (RFC 8252
§7.3); a stored http URI is checked again before every redirect, so turning the
setting off stops redirects to it."""

from __future__ import annotations

import pytest

from col_auth.core import oauth_clients
from col_auth.core.errors import ValidationError
from tests.helpers import Browser, query_of
from tests.oauth.support import authorize_url, consent, seed_client
from tests.oauth.test_token_errors import post

INTRANET = "http://crm.intranet.example/oauth/callback"


def test_http_outside_loopback_is_refused_by_default(app):
    with app.app_context():
        assert app.config["ALLOW_HTTP_REDIRECT_URIS"] is False
        with pytest.raises(ValidationError):
            oauth_clients.check_redirect_uri(INTRANET)
        for uri in ("http://localhost/cb", "http://127.0.0.1:8765/cb", "http://[::1]:9/cb"):
            assert oauth_clients.check_redirect_uri(uri) == uri
        app.config["ALLOW_HTTP_REDIRECT_URIS"] = True
        assert oauth_clients.check_redirect_uri(INTRANET) == INTRANET
        # Only the scheme is relaxed: the other rules stand.
        for bad in (INTRANET + "#frag", "http://user@crm.intranet.example/cb",
                    "ftp://crm.intranet.example/cb"):
            with pytest.raises(ValidationError):
                oauth_clients.check_redirect_uri(bad)


def test_http_redirect_uri_works_while_allowed_and_stops_when_turned_off(app, live):
    app.config["ALLOW_HTTP_REDIRECT_URIS"] = True
    seeded = seed_client(app, redirect_uris=(INTRANET,))
    browser = Browser(live.url)
    browser.login("member")
    url = authorize_url(live.url, seeded.client_id, INTRANET, scope="openid api")
    redirect = consent(browser, url)
    location = redirect.headers["Location"]
    assert location.startswith(INTRANET + "?")
    code = query_of(location)["code"][0]
    exchanged = post(live, "token", {"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": INTRANET,
                                     "client_id": seeded.client_id,
                                     "client_secret": seeded.client_secret})
    assert exchanged.status_code == 200, exchanged.text

    app.config["ALLOW_HTTP_REDIRECT_URIS"] = False
    refused = browser.get(url)
    assert refused.status_code == 400, (refused.status_code, refused.text[:300])
    assert "Location" not in refused.headers
    # Not even an error goes back to it.
    refused = browser.get(authorize_url(live.url, seeded.client_id, INTRANET,
                                        response_type="token"))
    assert refused.status_code == 400 and "Location" not in refused.headers
