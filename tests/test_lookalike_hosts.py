"""Hosts must be ASCII (issue 9, finding 11): a Return URL, Privacy URL or redirect
URI whose host holds any other character is refused, with a message that says so,
wherever a URL is registered; an internationalized domain name is registered in
its ``xn--`` form. A URL stored before this rule is never redirected to.

``https://good.example。evil.com/cb`` (U+3002 IDEOGRAPHIC FULL STOP) reads as a
subdomain of good.example, but browsers (and werkzeug's ``Location``) map the
dot to "." and go to evil.com.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update

from col_auth.core.errors import ValidationError
from col_auth.core.legacy_apps import check_absolute_url
from col_auth.core.models import LegacyApp, OAuthClient
from col_auth.core.oauth_clients import check_redirect_uri
from col_auth.extensions import db
from tests.helpers import Browser, csrf_token, seed
from tests.oauth.support import authorize_url, seed_client

LOOKALIKES = [
    "https://good.example\u3002evil.com/cb",    # IDEOGRAPHIC FULL STOP
    "https://good.example\uff0eevil.com/cb",    # FULLWIDTH FULL STOP
    "https://good.example\uff61evil.com/cb",    # HALFWIDTH IDEOGRAPHIC FULL STOP
    "https://g\u043e\u043ed.example/cb",        # Cyrillic о
    "https://\u0430pple.com/cb",                # Cyrillic а
    "https://\uff47ood.example/cb",             # FULLWIDTH g
    "https://good.example:\uff18\uff10/cb",     # a port in fullwidth digits
    "https://b\u00fccher.example/cb",           # a real IDN, not in its xn-- form
]
IDS = ["u3002", "uff0e", "uff61", "cyrillic-o", "cyrillic-a", "fullwidth-g", "fullwidth-port",
       "idn-unencoded"]
SAID = "ASCII"  # what the message must say


def _refused_with_the_message(check, url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        check(url)
    assert SAID in refused.value.message and "xn--" in refused.value.message, refused.value


@pytest.mark.parametrize("url", LOOKALIKES, ids=IDS)
def test_every_url_check_refuses_a_host_that_is_not_ascii(url):
    _refused_with_the_message(lambda u: check_absolute_url(u, "Return URL"), url)
    _refused_with_the_message(lambda u: check_absolute_url(u, "Privacy URL"), url)
    _refused_with_the_message(check_redirect_uri, url)


def test_an_idn_in_its_xn_form_is_accepted():
    url = "https://xn--bcher-kva.example/cb"  # bücher.example
    assert check_absolute_url(url, "Return URL") == url
    assert check_redirect_uri(url) == url
    # Only the host is concerned: a path may hold any storable text.
    assert check_redirect_uri("https://client.example/caf\u00e9") == (
        "https://client.example/caf\u00e9")


# --- registration through the pages and the CLI -----------------------------------------


def _apps(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LegacyApp))


@pytest.mark.parametrize("field", ["return_url", "privacy_url"])
def test_developer_form_refuses_lookalike_hosts_and_says_why(app, live, field):
    seed(app)
    browser = Browser(live.url)
    browser.login("member")
    before = _apps(app)
    for url in LOOKALIKES:
        data = {"name": "My App", "return_url": "https://my.example/back",
                "privacy_url": "https://my.example/privacy", field: url}
        response = browser.submit("/developer/add", data)
        assert response.status_code == 400, (url, response.status_code)
        assert 'id="app-secret"' not in response.text
        assert "must name its host in ASCII" in response.text, (url, response.text[-1500:])
    assert _apps(app) == before


def test_developer_edit_refuses_a_lookalike_return_url(app, live):
    s = seed(app)
    browser = Browser(live.url)
    browser.login("admin")
    response = browser.submit(f"/developer/{s.app_token}/edit",
                              {"name": "Test App", "return_url": LOOKALIKES[0]})
    assert response.status_code == 400
    assert "must name its host in ASCII" in response.text
    with app.app_context():
        assert db.session.scalar(select(LegacyApp.return_url)) != LOOKALIKES[0]


def test_admin_client_form_refuses_lookalike_redirect_uris_and_says_why(app, live):
    from tests.admin.test_admin_pages import _create_client, _ready_module

    seed(app)
    admin = Browser(live.url)
    admin.login("admin")
    module_id, template_id = _ready_module(app, admin)
    for url in LOOKALIKES:
        response = _create_client(admin, module_id, template_id,
                                  redirect_uris=["https://client.example/ok", url])
        assert response.status_code == 400, (url, response.status_code)
        assert "client-secret" not in response.text
        assert "must name its host in ASCII" in response.text, url
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OAuthClient)) == 0


def test_cli_refuses_lookalike_hosts_and_says_why(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["create-site", "Sample CU"]).exit_code == 0
    assert runner.invoke(args=["create-user", "dev", "--site", "Sample CU",
                               "--password", "pw"]).exit_code == 0
    assert runner.invoke(args=["create-module", "Sales"]).exit_code == 0
    for url in LOOKALIKES:
        legacy = runner.invoke(args=["create-app", "--owner", "dev", "--name", "A",
                                     "--return-url", url])
        assert legacy.exit_code != 0 and "must name its host in ASCII" in legacy.output, (
            url, legacy.output)
        privacy = runner.invoke(args=["create-app", "--owner", "dev", "--name", "A",
                                      "--return-url", "https://a.example/cb",
                                      "--privacy-url", url])
        assert privacy.exit_code != 0 and "must name its host in ASCII" in privacy.output
        client = runner.invoke(args=["create-client", "--module", "Sales", "--template", "T",
                                     "--redirect-uri", url])
        assert client.exit_code != 0 and "must name its host in ASCII" in client.output, (
            url, client.output)
    assert _apps(app) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OAuthClient)) == 0


# --- rows stored before the rule ----------------------------------------------------------


def _page_without_redirect(response) -> str:
    assert response.status_code == 400, (response.status_code, response.headers)
    assert "Location" not in response.headers
    return response.text


def test_legacy_app_stored_with_a_lookalike_return_url_gets_no_redirect(app, live):
    s = seed(app)
    with app.app_context():
        db.session.execute(update(LegacyApp).values(return_url=LOOKALIKES[0]))
        db.session.commit()
    browser = Browser(live.url)
    # A refusal before login (a bad type) would send an error packet there.
    page = _page_without_redirect(browser.get(f"/auth/?apptoken={s.app_token}&type=9"))
    assert "ASCII" in page
    browser.login("member")
    page = browser.get(f"/auth/?apptoken={s.app_token}&type=44")
    _page_without_redirect(page)
    # Nor by pressing "Allow" or "Cancel" on a consent page opened before.
    token = csrf_token(browser.get("/logout").text)
    for button in ("allow", "cancel"):
        response = browser.post("/auth/", data={"csrf_token": token, "apptoken": s.app_token,
                                                "type": "44", button: button.title()})
        _page_without_redirect(response)


def test_oauth_client_stored_with_a_lookalike_redirect_uri_gets_no_redirect(app, live):
    seeded = seed_client(app)
    with app.app_context():
        db.session.execute(update(OAuthClient).values(redirect_uris=json.dumps(LOOKALIKES)))
        db.session.commit()
    browser = Browser(live.url)
    browser.login("member")
    for url in LOOKALIKES:
        # response_type=x would be sent back to the client at once.
        response = browser.get(authorize_url(live.url, seeded.client_id, url,
                                             response_type="x"))
        assert "ASCII" in _page_without_redirect(response)
