"""/admin over real HTTP: modules, external apps, client templates and clients.

Only system administrators may use any of it; a client's ``client_secret`` is
shown once, on the page that answers "Create OAuth/OIDC client", and never
again (contract §5).
"""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from col_auth.core import oauth_clients
from col_auth.core.models import ClientTemplate, Module, OAuthClient
from col_auth.extensions import db
from tests.helpers import Browser, csrf_token, seed
from tests.legacy.test_developer import PNG

_SHOWN = re.compile(r'<code id="(client-id|client-secret)">([^<]*)</code>')
REDIRECT_URIS = ["https://client.example/cb", "http://127.0.0.1:8765/callback?x=1"]


# --- helpers ------------------------------------------------------------------------


def _logged_in(live, username: str) -> Browser:
    browser = Browser(live.url)
    browser.login(username)
    return browser


def _post_from(browser: Browser, page_path: str, action: str, data, files=None):
    """GET ``page_path`` for its CSRF token, then POST ``data`` (a dict or a list of
    pairs, for repeated names) to ``action``."""
    page = browser.get(page_path)
    assert page.status_code == 200, (page.status_code, page.text[:300])
    pairs = list(data.items()) if isinstance(data, dict) else list(data)
    return browser.post(action, data=[("csrf_token", csrf_token(page.text)), *pairs],
                        files=files)


def _create_module(browser: Browser, name: str = "Sales", description: str = "Deals",
                   icon: bytes | None = None) -> str:
    files = {"icon": ("icon.png", icon, "image/png")} if icon else None
    response = _post_from(browser, "/admin/modules", "/admin/modules",
                          {"name": name, "description": description}, files=files)
    assert response.status_code == 302, response.text[:500]
    return response.headers["Location"].rsplit("/", 1)[1]


def _configure_app(browser: Browser, module_id: str, **fields):
    data = {"enabled": "y", "use_module_data": "y"}
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    return _post_from(browser, f"/admin/modules/{module_id}",
                      f"/admin/modules/{module_id}/external-app", data)


def _create_template(browser: Browser, module_id: str, name: str = "Sample",
                     scopes: tuple[str, ...] = ("openid", "api")):
    data = [("name", name), *(("scopes", s) for s in scopes)]
    return _post_from(browser, f"/admin/modules/{module_id}",
                      f"/admin/modules/{module_id}/templates", data)


def _template_id(app, module_id: str, name: str = "Sample") -> str:
    with app.app_context():
        module = oauth_clients.get_module(module_id)
        return next(t.id for t in module.external_app.templates if t.name == name)


def _create_client(browser: Browser, module_id: str, template_id: str,
                   redirect_uris=REDIRECT_URIS, name: str = "Portal", expires: str = ""):
    data = [("name", name), ("template", template_id), ("expires", expires),
            *(("redirect_uri", uri) for uri in redirect_uris)]
    return _post_from(browser, f"/admin/modules/{module_id}",
                      f"/admin/modules/{module_id}/clients", data)


def _shown(page: str) -> dict[str, str]:
    values = {name: html.unescape(value) for name, value in _SHOWN.findall(page)}
    assert set(values) == {"client-id", "client-secret"}, page[:500]
    return values


def _ready_module(app, browser: Browser) -> tuple[str, str]:
    """A module with its external app enabled and a template "Sample" (openid api)."""
    module_id = _create_module(browser)
    assert _configure_app(browser, module_id).status_code == 302
    assert _create_template(browser, module_id).status_code == 302
    return module_id, _template_id(app, module_id)


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _client(app, client_id: str) -> dict | None:
    with app.app_context():
        client = oauth_clients.find_client(client_id)
        if client is None:
            return None
        return {"name": client.name, "secret_hash": client.secret_hash,
                "redirect_uris": client.redirect_uri_list, "scopes": client.template.scopes,
                "expires_at": client.expires_at, "usable": oauth_clients.client_is_usable(client)}


# --- who may ------------------------------------------------------------------------


def _admin_urls(app, browser: Browser) -> tuple[list[str], list[str]]:
    """Every admin GET and POST URL, for a real module, external app and client."""
    module_id, template_id = _ready_module(app, browser)
    module_icon = _create_module(browser, "With icon", icon=PNG)
    shown = _shown(_create_client(browser, module_id, template_id).text)
    client_id = shown["client-id"]
    gets = ["/admin/modules", f"/admin/modules/{module_id}",
            f"/admin/modules/{module_icon}/icon",
            f"/admin/modules/{module_icon}/external-app/icon"]
    posts = ["/admin/modules", f"/admin/modules/{module_id}/state",
             f"/admin/modules/{module_id}/external-app", f"/admin/modules/{module_id}/templates",
             f"/admin/modules/{module_id}/clients",
             f"/admin/modules/{module_id}/clients/{client_id}/delete"]
    return gets, posts


def test_only_system_admins_may_use_any_admin_url(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    gets, posts = _admin_urls(app, admin)
    for path in gets:
        assert admin.get(path).status_code == 200, path
    before = {m: _count(app, m) for m in (Module, ClientTemplate, OAuthClient)}

    member = _logged_in(live, "Member")
    token = csrf_token(member.get("/developer/add").text)
    for path in gets:
        assert member.get(path).status_code == 403, path
    for path in posts:
        form = {"name": "Hijack", "enable": "Enable", "disable": "Disable", "enabled": "y",
                "scopes": "api", "redirect_uri": "https://evil.example/cb"}
        assert member.post(path, data={"csrf_token": token, **form}).status_code == 403, path
        assert member.post(path, data=form).status_code == 403, path

    anonymous = Browser(live.url)
    for path in gets:
        response = anonymous.get(path)
        assert response.status_code == 302, path
        assert "/login" in response.headers["Location"]
    for path in posts:
        response = anonymous.post(path, data={"name": "Hijack"})
        assert response.status_code == 302 and "/login" in response.headers["Location"], path

    assert {m: _count(app, m) for m in before} == before, "nothing changed"


def test_administration_link_is_shown_to_system_admins_only(app, live):
    seed(app)
    assert 'href="/admin/modules"' in _logged_in(live, "admin").get("/profile").text
    member_page = _logged_in(live, "Member").get("/profile").text
    assert "/admin/modules" not in member_page and "Administration" not in member_page


def test_post_without_csrf_is_refused_and_stores_nothing(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    response = admin.post("/admin/modules", data={"name": "No token"})
    assert response.status_code == 400
    module_id, template_id = _ready_module(app, admin)
    response = admin.post(f"/admin/modules/{module_id}/clients",
                          data={"name": "x", "template": template_id,
                                "redirect_uri": REDIRECT_URIS[0]})
    assert response.status_code == 400
    response = admin.post(f"/admin/modules/{module_id}/state", data={"disable": "Disable"})
    assert response.status_code == 400
    assert _count(app, Module) == 1 and _count(app, OAuthClient) == 0
    with app.app_context():
        assert oauth_clients.get_module(module_id).enabled


# --- modules, external apps, templates, clients -------------------------------------


def test_admin_creates_client_and_sees_its_secret_only_once(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    module_id = _create_module(admin, "Sales", icon=PNG)
    listing = admin.get("/admin/modules").text
    assert "Sales" in listing and f"/admin/modules/{module_id}" in listing
    assert admin.get(f"/admin/modules/{module_id}/icon").content == PNG

    assert _configure_app(admin, module_id).status_code == 302
    assert _create_template(admin, module_id, "Sample", ("openid", "api")).status_code == 302
    template_id = _template_id(app, module_id)
    page = admin.get(f"/admin/modules/{module_id}").text
    assert "Sample (openid api)" in page, "the template's scopes are shown with its option"
    assert page.count('name="redirect_uri"') == 3
    assert 'id="add-redirect-uri"' in page and "/static/admin.js" in page
    assert "<script>" not in page, "no inline script (CSP)"
    assert admin.get("/static/admin.js").status_code == 200

    created = _create_client(admin, module_id, template_id, expires="30")
    assert created.status_code == 200, created.text[:500]
    assert created.headers["Cache-Control"] == "no-store"
    shown = _shown(created.text)
    client_id, secret = shown["client-id"], shown["client-secret"]
    assert "App unique identifier" in created.text and "App secret" in created.text

    stored = _client(app, client_id)
    assert stored["name"] == "Portal" and stored["redirect_uris"] == REDIRECT_URIS
    assert stored["scopes"] == "openid api" and stored["expires_at"] is not None
    assert stored["secret_hash"] != secret and secret not in stored["secret_hash"]
    with app.app_context():
        client = oauth_clients.authenticate_client(client_id, secret)
        assert client is not None and client.client_id == client_id
        assert oauth_clients.authenticate_client(client_id, secret + "x") is None

    for path in ("/admin/modules", f"/admin/modules/{module_id}"):
        later = admin.get(path).text
        assert secret not in later, path
    module_page = admin.get(f"/admin/modules/{module_id}").text
    assert client_id in module_page and REDIRECT_URIS[0] in module_page
    listing = admin.get("/admin/modules").text
    assert re.search(r"Sales</a></td>\s*<td>Yes</td>\s*<td>Yes</td>\s*<td>1</td>", listing)


def test_client_without_expires_never_expires(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    module_id, template_id = _ready_module(app, admin)
    shown = _shown(_create_client(admin, module_id, template_id, expires="").text)
    stored = _client(app, shown["client-id"])
    assert stored["expires_at"] is None and stored["usable"]


@pytest.mark.parametrize("bad_uri", [
    "http://evil.example/cb",            # http on a host that is not loopback
    "https://client.example/cb#frag",    # a fragment
    "/relative/callback",                # relative
])
def test_invalid_redirect_uri_is_refused_and_nothing_stored(app, live, bad_uri):
    seed(app)
    admin = _logged_in(live, "admin")
    module_id, template_id = _ready_module(app, admin)
    response = _create_client(admin, module_id, template_id,
                              redirect_uris=["https://client.example/ok", bad_uri])
    assert response.status_code == 400
    assert "client-secret" not in response.text
    assert 'role="alert"' in response.text
    assert _count(app, OAuthClient) == 0


def test_client_needs_a_redirect_uri_a_name_and_a_sane_expiry(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    module_id, template_id = _ready_module(app, admin)
    assert _create_client(admin, module_id, template_id, redirect_uris=[]).status_code == 400
    assert _create_client(admin, module_id, template_id, name="").status_code == 400
    assert _create_client(admin, module_id, template_id, expires="0").status_code == 400
    assert _create_client(admin, module_id, template_id, expires="soon").status_code == 400
    assert _create_client(admin, module_id, "no-such-template").status_code == 400
    assert _count(app, OAuthClient) == 0


def test_template_needs_an_access_level(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    module_id = _create_module(admin)
    assert _create_template(admin, module_id, "Empty", ()).status_code == 400
    assert _create_template(admin, module_id, "Odd", ("openid", "email")).status_code == 400
    assert _count(app, ClientTemplate) == 0
    assert _create_template(admin, module_id, "Api only", ("api",)).status_code == 302
    again = _create_template(admin, module_id, "Api only", ("api",))
    assert again.status_code == 400 and "exists already" in again.text
    with app.app_context():
        templates = oauth_clients.get_module(module_id).external_app.templates
        assert [(t.name, t.scopes) for t in templates] == [("Api only", "api")]


def test_duplicate_module_or_bad_icon_is_refused(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    _create_module(admin, "Sales")
    again = _post_from(admin, "/admin/modules", "/admin/modules", {"name": "Sales"})
    assert again.status_code == 400 and "exists already" in again.text
    bad_icon = _post_from(admin, "/admin/modules", "/admin/modules", {"name": "Other"},
                          files={"icon": ("icon.png", b"not an image", "image/png")})
    assert bad_icon.status_code == 400
    no_name = _post_from(admin, "/admin/modules", "/admin/modules", {"name": " "})
    assert no_name.status_code == 400
    assert _count(app, Module) == 1


def test_control_characters_in_names_are_refused_on_every_database(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    refused = _post_from(admin, "/admin/modules", "/admin/modules", {"name": "Sa\x00les"})
    assert refused.status_code == 400
    refused = _post_from(admin, "/admin/modules", "/admin/modules",
                         {"name": "Sales", "description": "a\x00b"})
    assert refused.status_code == 400
    module_id, template_id = _ready_module(app, admin)
    assert _create_template(admin, module_id, "T\x00").status_code == 400
    assert _configure_app(admin, module_id, use_module_data=None,
                          name="App\x00").status_code == 400
    assert _create_client(admin, module_id, template_id, name="C\x00").status_code == 400
    assert _count(app, Module) == 1 and _count(app, ClientTemplate) == 1
    assert _count(app, OAuthClient) == 0


def test_external_app_uses_module_data_unless_unchecked(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    module_id = _create_module(admin, "Sales", "The module's own words")
    page = admin.get(f"/admin/modules/{module_id}").text
    checkbox = re.search(r'<input[^>]*id="app-use-module-data"[^>]*>', page).group(0)
    assert "checked" in checkbox, "'Use main module data' is checked by default"
    assert _configure_app(admin, module_id, name="Ignored").status_code == 302
    with app.app_context():
        external = oauth_clients.get_module(module_id).external_app
        assert external.enabled and external.display_name == "Sales"

    # Unchecked: the external app's own name, description and icon.
    assert _configure_app(admin, module_id, use_module_data=None, name="Sales Connector",
                          description="For partners").status_code == 302
    with app.app_context():
        external = oauth_clients.get_module(module_id).external_app
        assert not external.use_module_data
        assert external.display_name == "Sales Connector"
        assert external.display_description == "For partners"
    assert "Sales Connector" in admin.get(f"/admin/modules/{module_id}").text

    # Unchecked without a name of its own: refused, nothing changed.
    refused = _configure_app(admin, module_id, use_module_data=None, name="", enabled=None)
    assert refused.status_code == 400
    with app.app_context():
        external = oauth_clients.get_module(module_id).external_app
        assert external.enabled and external.display_name == "Sales Connector"


def test_disabling_module_or_external_app_makes_clients_unusable(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    module_id, template_id = _ready_module(app, admin)
    client_id = _shown(_create_client(admin, module_id, template_id).text)["client-id"]
    assert _client(app, client_id)["usable"]

    disabled = _post_from(admin, f"/admin/modules/{module_id}",
                          f"/admin/modules/{module_id}/state", {"disable": "Disable"})
    assert disabled.status_code == 302
    assert not _client(app, client_id)["usable"]
    page = admin.get(f"/admin/modules/{module_id}").text
    assert "Disabled" in page and 'value="Enable"' in page

    _post_from(admin, f"/admin/modules/{module_id}", f"/admin/modules/{module_id}/state",
               {"enable": "Enable"})
    assert _client(app, client_id)["usable"]

    assert _configure_app(admin, module_id, enabled=None).status_code == 302
    assert not _client(app, client_id)["usable"]


def test_deleting_client_removes_it(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    module_id, template_id = _ready_module(app, admin)
    client_id = _shown(_create_client(admin, module_id, template_id).text)["client-id"]
    other_module = _create_module(admin, "Other")

    # A client is deleted only through its own module.
    wrong = _post_from(admin, f"/admin/modules/{other_module}",
                       f"/admin/modules/{other_module}/clients/{client_id}/delete", {})
    assert wrong.status_code == 404
    assert _client(app, client_id) is not None

    deleted = _post_from(admin, f"/admin/modules/{module_id}",
                         f"/admin/modules/{module_id}/clients/{client_id}/delete", {})
    assert deleted.status_code == 302
    assert _client(app, client_id) is None
    assert client_id not in admin.get(f"/admin/modules/{module_id}").text


def test_unknown_module_is_404(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    assert admin.get("/admin/modules/00000000-0000-0000-0000-000000000000").status_code == 404


# --- public clients, PKCE, post-logout URIs, plain http (issue 10) ---------------------


def _create_client_with(browser: Browser, module_id: str, template_id: str, *extra,
                        redirect_uris=("https://spa.example/cb",)):
    """Create a client with more fields: ``extra`` are (name, value) pairs."""
    data = [("name", "SPA"), ("template", template_id), ("expires", ""),
            *(("redirect_uri", uri) for uri in redirect_uris), *extra]
    return _post_from(browser, f"/admin/modules/{module_id}",
                      f"/admin/modules/{module_id}/clients", data)


def _stored(app, client_id: str) -> dict:
    with app.app_context():
        client = oauth_clients.find_client(client_id)
        return {"public": client.public, "require_pkce": client.require_pkce,
                "secret_hash": client.secret_hash,
                "post_logout": client.post_logout_redirect_uri_list}


def _client_row(page: str, client_id: str) -> str:
    """The module page's table row of one client."""
    rows = re.findall(r"<tr>.*?</tr>", page, re.S)
    found = [row for row in rows if client_id in row]
    assert len(found) == 1, page[:500]
    return found[0]


def test_create_client_form_offers_public_pkce_and_post_logout_uris(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    module_id, _template_id = _ready_module(app, admin)
    page = admin.get(f"/admin/modules/{module_id}").text
    assert "Public client (no secret; PKCE required)" in page
    assert re.search(r'<input[^>]*id="client-public"[^>]*type="checkbox"', page)
    assert "Require PKCE" in page
    assert re.search(r'<input[^>]*id="client-require-pkce"[^>]*type="checkbox"', page)
    assert "Post-logout redirect URIs" in page
    assert page.count('name="post_logout_redirect_uri"') >= 1


def test_admin_creates_public_client_with_no_secret(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    module_id, template_id = _ready_module(app, admin)
    created = _create_client_with(admin, module_id, template_id, ("public", "y"),
                                  ("post_logout_redirect_uri", "https://spa.example/bye"),
                                  ("post_logout_redirect_uri", "https://spa.example/again"))
    assert created.status_code == 200, created.text[:500]
    assert created.headers["Cache-Control"] == "no-store"
    client_id = html.unescape(re.search(r'<code id="client-id">([^<]*)</code>',
                                        created.text).group(1))
    assert 'id="client-secret"' not in created.text
    assert "no App secret" in created.text and "PKCE" in created.text
    stored = _stored(app, client_id)
    assert stored["public"] and stored["require_pkce"] and stored["secret_hash"] is None
    assert stored["post_logout"] == ["https://spa.example/bye", "https://spa.example/again"]

    row = _client_row(admin.get(f"/admin/modules/{module_id}").text, client_id)
    assert "Public" in row and "PKCE required" in row
    assert "https://spa.example/bye" in row


def test_admin_creates_confidential_client_that_requires_pkce(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    module_id, template_id = _ready_module(app, admin)
    created = _create_client_with(admin, module_id, template_id, ("require_pkce", "y"))
    assert created.status_code == 200, created.text[:500]
    shown = _shown(created.text)
    stored = _stored(app, shown["client-id"])
    assert not stored["public"] and stored["require_pkce"] and stored["secret_hash"]
    assert stored["post_logout"] == []
    row = _client_row(admin.get(f"/admin/modules/{module_id}").text, shown["client-id"])
    assert "Confidential" in row and "PKCE required" in row

    plain = _shown(_create_client(admin, module_id, template_id).text)
    row = _client_row(admin.get(f"/admin/modules/{module_id}").text, plain["client-id"])
    assert "Confidential" in row and "PKCE required" not in row


def test_bad_post_logout_uri_is_refused_and_nothing_stored(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    module_id, template_id = _ready_module(app, admin)
    for bad in ("http://evil.example/bye", "https://spa.example/bye#x", "/bye"):
        refused = _create_client_with(admin, module_id, template_id,
                                      ("post_logout_redirect_uri", bad))
        assert refused.status_code == 400, bad
        assert 'role="alert"' in refused.text
    assert _count(app, OAuthClient) == 0


def test_http_redirect_uris_need_the_setting_and_are_flagged(app, live):
    seed(app)
    admin = _logged_in(live, "admin")
    module_id, template_id = _ready_module(app, admin)
    intranet = "http://crm.intranet.example/cb"
    # Off (the default): refused, loopback http still fine.
    refused = _create_client_with(admin, module_id, template_id, redirect_uris=(intranet,))
    assert refused.status_code == 400 and _count(app, OAuthClient) == 0
    loopback = _create_client_with(admin, module_id, template_id,
                                   redirect_uris=("http://127.0.0.1:8765/cb",
                                                  "http://localhost/cb", "http://[::1]:9/cb"))
    assert loopback.status_code == 200, loopback.text[:500]
    loopback_id = _shown(loopback.text)["client-id"]

    app.config["ALLOW_HTTP_REDIRECT_URIS"] = True
    created = _create_client_with(admin, module_id, template_id,
                                  ("post_logout_redirect_uri", "http://crm.intranet.example/bye"),
                                  redirect_uris=(intranet,))
    assert created.status_code == 200, created.text[:500]
    client_id = _shown(created.text)["client-id"]
    assert "plain http" in created.text.lower()

    page = admin.get(f"/admin/modules/{module_id}").text
    row = _client_row(page, client_id)
    assert 'class="warning' in row and "plain http" in row.lower()
    assert intranet in row and "http://crm.intranet.example/bye" in row
    assert 'class="warning' not in _client_row(page, loopback_id), "loopback is not flagged"

    # Turned off again: the client stays, and so does its warning.
    app.config["ALLOW_HTTP_REDIRECT_URIS"] = False
    row = _client_row(admin.get(f"/admin/modules/{module_id}").text, client_id)
    assert 'class="warning' in row
