"""OpenID Connect as a browser sees it, in real Chromium: silent sign-in with
``prompt=none`` after one consent, and a public client used by a single-page app on
another origin (CORS), which a page on an unregistered origin cannot use."""

from __future__ import annotations

import json
import re
from pathlib import Path

import requests
from playwright.sync_api import expect
from werkzeug.wrappers import Request, Response

from tests.e2e.conftest import login
from tests.helpers import PASSWORD, query_of
from tests.oauth.support import authorize_url, seed_client

SPA_PAGE = Path(__file__).with_name("spa.html")
SCOPE = "openid profile email"

# fetch() from the page, with what it could read, or how it failed.
PROBE = """async ([url, init]) => {
  try {
    const response = await fetch(url, init);
    return {status: response.status, body: await response.json()};
  } catch (error) {
    return {error: error.name};
  }
}"""


def _html_pages_of(page, base: str) -> list[str]:
    """Every HTML page ``base`` shows in ``page`` from now on (200 text/html)."""
    shown: list[str] = []
    page.on("response", lambda response: shown.append(response.url)
            if response.status == 200 and response.url.startswith(base + "/")
            and "text/html" in response.headers.get("content-type", "") else None)
    return shown


@Request.application
def _client_callback(request: Request) -> Response:
    """The client's redirect URI: a page that shows what came back."""
    return Response("<!doctype html><title>client</title><p>callback</p>",
                    mimetype="text/html")


def test_second_code_comes_with_prompt_none_and_no_page(page, app, live, serve):
    client = serve(_client_callback)
    seeded = seed_client(app, redirect_uris=(f"{client.url}/callback",))
    callback = re.compile(re.escape(seeded.redirect_uri) + r"\?.*code=")

    page.goto(authorize_url(live.url, seeded.client_id, seeded.redirect_uri, scope=SCOPE,
                            nonce="n-1", state="first"))
    login(page, live.url, "Member", PASSWORD)
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(callback)

    shown = _html_pages_of(page, live.url)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url)
            if frame == page.main_frame else None)
    page.goto(authorize_url(live.url, seeded.client_id, seeded.redirect_uri, scope=SCOPE,
                            nonce="n-2", state="silent", prompt="none"))
    expect(page).to_have_url(callback)
    assert shown == [], f"col_auth showed a page for prompt=none: {shown}"
    # The redirects are not navigations that commit: the browser went straight on.
    assert len(navigations) == 1 and navigations[0].startswith(seeded.redirect_uri + "?")
    answer = query_of(page.url)
    assert answer["state"] == ["silent"] and "error" not in answer

    tokens = requests.post(f"{live.url}/api/o/oauth/v2/token", timeout=10, data={
        "grant_type": "authorization_code", "code": answer["code"][0],
        "redirect_uri": seeded.redirect_uri, "client_id": seeded.client_id,
        "client_secret": seeded.client_secret})
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == SCOPE and tokens.json()["id_token"]


def _spa(settings: dict):
    """The single-page app of spa.html, its ``settings`` written in as they are at
    each request (the client is registered once the app's origin is known)."""
    page = SPA_PAGE.read_text()

    @Request.application
    def application(request: Request) -> Response:
        if request.path in ("/", "/callback"):
            return Response(page.replace("/*SETTINGS*/null", json.dumps(settings)),
                            mimetype="text/html")
        return Response("not found", status=404)

    return application


def test_public_client_works_from_its_own_origin_and_not_from_another(page, app, live,
                                                                      serve):
    settings: dict = {"issuer": live.url, "scope": SCOPE}
    spa = serve(_spa(settings))
    stranger = serve(_spa(settings))  # the same page, on an origin no client registered
    settings["redirectUri"] = f"{spa.url}/callback"
    seeded = seed_client(app, public=True, redirect_uris=(settings["redirectUri"],))
    settings["clientId"] = seeded.client_id
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))

    page.goto(spa.url)
    page.get_by_role("button", name="Sign in with col_auth").click()
    expect(page).to_have_url(re.compile(re.escape(live.url) + r"/login"))
    login(page, live.url, "Member", PASSWORD)
    page.get_by_role("button", name="Allow").click()
    expect(page.locator("#status")).to_have_text("signed in")
    signed_in = page.evaluate("window.spa")
    assert signed_in["tokens"]["scope"] == SCOPE
    assert signed_in["userinfo"]["sub"] == seeded.legacy.member_id
    assert signed_in["userinfo"]["email"] == "m@sample.example"

    userinfo = [f"{live.url}/api/o/oauth/v2/userinfo",
                {"headers": {"Authorization": f"Bearer {signed_in['tokens']['access_token']}"}}]
    token = [f"{live.url}/api/o/oauth/v2/token", {
        "method": "POST",
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        "body": f"grant_type=authorization_code&code=spent&client_id={seeded.client_id}"
                f"&redirect_uri={settings['redirectUri']}&code_verifier={'v' * 43}"}]
    discovery = [f"{live.url}/.well-known/openid-configuration", {}]
    # From the app's own origin, the answers (errors included) can be read...
    assert page.evaluate(PROBE, userinfo)["body"]["sub"] == seeded.legacy.member_id
    assert page.evaluate(PROBE, token)["body"]["error"] == "invalid_grant"

    # ...from another origin, only the public documents: fetch() rejects the rest.
    page.goto(stranger.url)
    assert page.evaluate(PROBE, discovery)["status"] == 200
    assert page.evaluate(PROBE, userinfo) == {"error": "TypeError"}
    assert page.evaluate(PROBE, token) == {"error": "TypeError"}
    blocked = [text for text in console if "blocked by CORS policy" in text]
    assert blocked and all(stranger.url in text for text in blocked), console
