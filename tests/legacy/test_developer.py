"""/developer over real HTTP: register, list, icon, edit, regenerate, delete, and who may.

The AppSecret is shown once ("Insert" or "Regenerate secret") and never again;
only the owner can change or remove an app (contract §3).
"""

from __future__ import annotations

import html
import re
import struct
import zlib
from urllib.parse import urlsplit

import jwt
import pytest
from sqlalchemy import func, select

from col_auth.core import legacy_apps
from col_auth.core.ids import SECRET_KEY_PREFIX, parse_guid
from col_auth.core.models import Grant, LegacyApp, Token
from col_auth.extensions import db
from tests.helpers import RETURN_URL, Browser, basic, csrf_token, query_of, seed

_CODE = re.compile(r'<code id="(app-token|app-secret)">([^<]*)</code>')


def tiny_png(width: int = 1, height: int = 1) -> bytes:
    """A valid PNG, built by hand: one red 8-bit RGB pixel per position."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


PNG = tiny_png()


def _shown(page: str) -> dict[str, str]:
    """AppToken and AppSecret as shown on the "once" page."""
    values = {name: html.unescape(value) for name, value in _CODE.findall(page)}
    assert set(values) == {"app-token", "app-secret"}, page[:500]
    return values


def _decode(packet: str, secret: str) -> dict:
    return jwt.decode(packet, secret.encode("utf-8"), algorithms=["HS256"])


def _logged_in(live, username: str) -> Browser:
    browser = Browser(live.url)
    browser.login(username)
    return browser


def _add(browser: Browser, data: dict, icon: tuple | None = None):
    page = browser.get("/developer/add")
    assert page.status_code == 200
    files = {"icon": icon} if icon else None
    return browser.post("/developer/add", data={"csrf_token": csrf_token(page.text), **data},
                        files=files)


def _app_form(name="My App", return_url="https://my.example/back?x=1",
              privacy_url="https://my.example/privacy") -> dict:
    return {"name": name, "return_url": return_url, "privacy_url": privacy_url}


def _apps(app) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(select(LegacyApp).order_by(LegacyApp.created_at))
        return [{"app_token": r.app_token, "name": r.name, "return_url": r.return_url,
                 "privacy_url": r.privacy_url, "icon": r.icon, "icon_mimetype": r.icon_mimetype,
                 "secret_ciphertext": r.secret_ciphertext, "owner_id": r.owner_id}
                for r in rows]


def _secret_of(app, app_token: str) -> str:
    with app.app_context():
        return legacy_apps.app_secret(legacy_apps.find_app(app_token))


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _allow(browser: Browser, app_token: str, token_type: str = "44") -> str:
    """Allow on the consent page; the packet the app gets back."""
    path = f"/auth/?apptoken={app_token}&type={token_type}"
    page = browser.get(path)
    assert page.status_code == 200, page.text[:300]
    response = browser.post("/auth/", data={"csrf_token": csrf_token(page.text),
                                            "apptoken": app_token, "type": token_type,
                                            "allow": "Allow"})
    assert response.status_code == 302
    return query_of(response.headers["Location"])["jwt"][0]


# --- login required ---------------------------------------------------------------------


@pytest.mark.parametrize("method,path", [
    ("get", "/developer"),
    ("get", "/developer/add"),
    ("post", "/developer/add"),
    ("get", "/developer/{token}/edit"),
    ("post", "/developer/{token}/secret"),
    ("post", "/developer/{token}/delete"),
])
def test_developer_pages_require_login(app, live, method, path):
    s = seed(app)
    before = _apps(app)
    browser = Browser(live.url)
    if method == "post":
        # With a valid CSRF token (from the login page), so that only the login check stops it.
        response = browser.post(path.format(token=s.app_token), data={
            "csrf_token": csrf_token(browser.get("/login").text), **_app_form()})
    else:
        response = browser.get(path.format(token=s.app_token))
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    assert _apps(app) == before


# --- add ------------------------------------------------------------------------------


def test_add_form_has_the_contract_fields(app, live):
    seed(app)
    page = _logged_in(live, "member").get("/developer/add")
    assert page.status_code == 200
    for label in ("Application Name", "Return URL", "Privacy URL", "Icon"):
        assert f">{label}</label>" in page.text
    assert 'value="Insert"' in page.text
    assert 'enctype="multipart/form-data"' in page.text


def test_add_shows_token_and_secret_once(app, live):
    s = seed(app)
    browser = _logged_in(live, "member")
    response = _add(browser, _app_form(), icon=("icon.png", PNG, "image/png"))
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Cache-Control"] == "no-store"
    shown = _shown(response.text)
    app_token, secret = shown["app-token"], shown["app-secret"]
    assert parse_guid(app_token) == app_token
    assert secret.startswith(SECRET_KEY_PREFIX)
    assert parse_guid(secret[len(SECRET_KEY_PREFIX):]) is not None

    rows = [r for r in _apps(app) if r["app_token"] == app_token]
    assert len(rows) == 1
    row = rows[0]
    assert row["owner_id"] == s.member_id
    assert row["name"] == "My App"
    assert row["return_url"] == "https://my.example/back?x=1"
    assert row["privacy_url"] == "https://my.example/privacy"
    assert row["icon"] == PNG and row["icon_mimetype"] == "image/png"
    assert _secret_of(app, app_token) == secret
    assert secret not in row["secret_ciphertext"]

    # The list shows the AppToken, never the secret (nor its GUID part).
    listing = browser.get("/developer")
    assert listing.status_code == 200
    assert app_token in listing.text
    assert "My App" in listing.text
    guid_part = secret[len(SECRET_KEY_PREFIX):]
    for leak in (secret, guid_part, guid_part.lower()):
        assert leak not in listing.text
    # Nor does the edit page.
    edit = browser.get(f"/developer/{app_token}/edit")
    assert edit.status_code == 200
    assert guid_part not in edit.text and guid_part.lower() not in edit.text

    # Another user's list does not show it.
    assert app_token not in _logged_in(live, "outsider").get("/developer").text


def test_add_without_optional_fields(app, live):
    seed(app)
    browser = _logged_in(live, "member")
    response = _add(browser, _app_form(privacy_url=""))
    assert response.status_code == 200
    token = _shown(response.text)["app-token"]
    row = next(r for r in _apps(app) if r["app_token"] == token)
    assert row["privacy_url"] is None and row["icon"] is None
    assert browser.get(f"/developer/{token}/icon").status_code == 404


def test_icon_is_served_as_png(app, live):
    seed(app)
    browser = _logged_in(live, "member")
    token = _shown(_add(browser, _app_form(), icon=("i.png", PNG, "image/png")).text)["app-token"]
    # Public: the consent page shows it before anyone decides.
    response = Browser(live.url).get(f"/developer/{token}/icon")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.content == PNG
    assert f"/developer/{token}/icon" in browser.get("/developer").text


@pytest.mark.parametrize("data,mimetype", [
    (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00"
     b"\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;", "image/gif"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9",
     "image/jpeg"),
])
def test_gif_and_jpeg_icons_are_accepted(app, live, data, mimetype):
    seed(app)
    browser = _logged_in(live, "member")
    # The type comes from the bytes, not from the name or the type the browser claims.
    response = _add(browser, _app_form(), icon=("icon.png", data, "image/png"))
    assert response.status_code == 200
    token = _shown(response.text)["app-token"]
    served = Browser(live.url).get(f"/developer/{token}/icon")
    assert served.headers["Content-Type"] == mimetype
    assert served.content == data


@pytest.mark.parametrize("field,url", [
    ("return_url", "/relative/return"),
    ("return_url", "return.example/back"),
    ("return_url", "javascript:alert(1)"),
    ("return_url", "JavaScript://app.example/%0Aalert(1)"),
    ("return_url", "https://good.example@evil.example/"),
    ("return_url", "https://user:pw@app.example/"),
    ("return_url", "//evil.example/back"),
    ("return_url", "ftp://app.example/back"),
    ("return_url", "data:text/html,hi"),
    ("return_url", "https:///nohost"),
    ("return_url", ""),
    ("privacy_url", "javascript:alert(1)"),
    ("privacy_url", "https://good.example@evil.example/"),
    ("privacy_url", "/privacy"),
])
def test_bad_urls_are_refused_and_nothing_stored(app, live, field, url):
    seed(app)
    before = _apps(app)
    browser = _logged_in(live, "member")
    response = _add(browser, {**_app_form(), field: url}, icon=("i.png", PNG, "image/png"))
    assert response.status_code == 400
    assert 'id="app-secret"' not in response.text
    assert _apps(app) == before


@pytest.mark.parametrize("icon", [
    ("icon.png", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
     "image/png"),
    ("icon.png", b"<html><body>not an image</body></html>", "image/png"),
    ("icon.png", b"\x89PN", "image/png"),
    ("icon.bmp", b"BM" + b"\x00" * 100, "image/bmp"),
])
def test_non_image_icon_is_refused(app, live, icon):
    seed(app)
    before = _apps(app)
    response = _add(_logged_in(live, "member"), _app_form(), icon=icon)
    assert response.status_code == 400
    assert "PNG, JPEG or GIF" in response.text
    assert _apps(app) == before


def test_icon_over_the_limit_is_refused(app, live):
    seed(app)
    limit = app.config["ICON_MAX_BYTES"]
    browser = _logged_in(live, "member")
    before = _apps(app)
    big = PNG + b"\x00" * (limit + 1 - len(PNG))
    assert len(big) == limit + 1
    response = _add(browser, _app_form(), icon=("big.png", big, "image/png"))
    assert response.status_code == 400
    assert _apps(app) == before

    # At exactly the limit it is accepted.
    exact = PNG + b"\x00" * (limit - len(PNG))
    response = _add(browser, _app_form(), icon=("ok.png", exact, "image/png"))
    assert response.status_code == 200
    token = _shown(response.text)["app-token"]
    assert next(r for r in _apps(app) if r["app_token"] == token)["icon"] == exact


# --- edit -----------------------------------------------------------------------------


def test_edit_changes_the_return_url(app, live):
    s = seed(app)
    browser = _logged_in(live, "admin")
    before = next(r for r in _apps(app) if r["app_token"] == s.app_token)
    page = browser.get(f"/developer/{s.app_token}/edit")
    assert page.status_code == 200
    assert RETURN_URL in page.text
    response = browser.post(f"/developer/{s.app_token}/edit", data={
        "csrf_token": csrf_token(page.text), "name": "Test App Renamed",
        "return_url": "https://new.example/cb", "privacy_url": ""})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/developer"
    after = next(r for r in _apps(app) if r["app_token"] == s.app_token)
    assert after["return_url"] == "https://new.example/cb"
    assert after["name"] == "Test App Renamed"
    assert after["secret_ciphertext"] == before["secret_ciphertext"], "the secret is unchanged"

    # /auth now sends the app's packets to the new Return URL.
    response = browser.get(f"/auth/?apptoken={s.app_token}&type=9")
    assert response.headers["Location"].startswith("https://new.example/cb?jwt=")


def test_edit_with_a_bad_url_changes_nothing(app, live):
    s = seed(app)
    browser = _logged_in(live, "admin")
    before = _apps(app)
    page = browser.get(f"/developer/{s.app_token}/edit")
    response = browser.post(f"/developer/{s.app_token}/edit", data={
        "csrf_token": csrf_token(page.text), "name": "Changed",
        "return_url": "https://good.example@evil.example/"})
    assert response.status_code == 400
    assert _apps(app) == before


def test_edit_keeps_replaces_and_removes_the_icon(app, live):
    seed(app)
    browser = _logged_in(live, "member")
    token = _shown(_add(browser, _app_form(), icon=("i.png", PNG, "image/png")).text)["app-token"]
    path = f"/developer/{token}/edit"

    def edit(data, files=None):
        page = browser.get(path)
        assert page.status_code == 200
        return browser.post(path, data={"csrf_token": csrf_token(page.text),
                                        **_app_form(), **data}, files=files)

    def icon():
        return next(r for r in _apps(app) if r["app_token"] == token)["icon"]

    assert edit({"name": "Kept"}).status_code == 302
    assert icon() == PNG
    other = tiny_png(2, 2)
    assert edit({}, files={"icon": ("j.png", other, "image/png")}).status_code == 302
    assert icon() == other
    assert edit({}, files={"icon": ("x.png", b"not an image", "image/png")}).status_code == 400
    assert icon() == other
    assert edit({"remove_icon": "y"}).status_code == 302
    assert icon() is None


# --- someone else's app ---------------------------------------------------------------


@pytest.mark.parametrize("intruder", ["member", "outsider"])
def test_another_user_cannot_touch_someone_elses_app(app, live, intruder):
    s = seed(app)
    before = _apps(app)
    browser = _logged_in(live, intruder)
    token = csrf_token(browser.get("/developer/add").text)

    assert browser.get(f"/developer/{s.app_token}/edit").status_code == 404
    response = browser.post(f"/developer/{s.app_token}/edit", data={
        "csrf_token": token, "name": "Hijacked", "return_url": "https://evil.example/"})
    assert response.status_code == 404
    response = browser.post(f"/developer/{s.app_token}/secret", data={"csrf_token": token})
    assert response.status_code == 404
    assert 'id="app-secret"' not in response.text
    assert browser.post(f"/developer/{s.app_token}/delete",
                        data={"csrf_token": token}).status_code == 404

    assert _apps(app) == before
    assert _secret_of(app, s.app_token) == s.app_secret


# --- regenerate -----------------------------------------------------------------------


def test_regenerate_secret_old_one_stops_at_once(app, live):
    s = seed(app)
    owner = _logged_in(live, "admin")
    listing = owner.get("/developer")
    response = owner.post(f"/developer/{s.app_token}/secret",
                          data={"csrf_token": csrf_token(listing.text)})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    shown = _shown(response.text)
    assert shown["app-token"] == s.app_token, "the AppToken does not change"
    new_secret = shown["app-secret"]
    assert new_secret != s.app_secret
    assert new_secret.startswith(SECRET_KEY_PREFIX)
    assert _secret_of(app, s.app_token) == new_secret

    # The list still shows the AppToken and still never the secret.
    listing = owner.get("/developer")
    assert s.app_token in listing.text
    assert new_secret[len(SECRET_KEY_PREFIX):] not in listing.text

    # A packet signed afterwards verifies with the new secret, not the old.
    packet = _allow(_logged_in(live, "member"), s.app_token)
    assert _decode(packet, new_secret)["userid"] == s.member_id
    with pytest.raises(jwt.InvalidSignatureError):
        _decode(packet, s.app_secret)
    # So does an error packet.
    location = owner.get(f"/auth/?apptoken={s.app_token}&type=9").headers["Location"]
    error_packet = query_of(location)["jwt"][0]
    assert _decode(error_packet, new_secret)["error"] == "invalid_type"
    with pytest.raises(jwt.InvalidSignatureError):
        _decode(error_packet, s.app_secret)


def test_regenerate_twice_gives_distinct_secrets(app, live):
    s = seed(app)
    owner = _logged_in(live, "admin")
    secrets = {s.app_secret}
    for _ in range(2):
        page = owner.get("/developer")
        response = owner.post(f"/developer/{s.app_token}/secret",
                              data={"csrf_token": csrf_token(page.text)})
        secrets.add(_shown(response.text)["app-secret"])
    assert len(secrets) == 3


# --- delete ---------------------------------------------------------------------------


def test_delete_removes_the_app_its_grants_and_stops_its_tokens(app, live):
    s = seed(app)
    member = _logged_in(live, "member")
    owner = _logged_in(live, "admin")
    user_token = _decode(_allow(member, s.app_token), s.app_secret)["token"]
    site_token = _decode(_allow(owner, s.app_token, "1"), s.app_secret)["token"]
    me = live.url + "/api/v1/me"
    assert member.session.get(me, headers=basic("member", user_token), timeout=10
                              ).status_code == 200
    assert member.session.get(me, headers=basic("member", site_token), timeout=10
                              ).status_code == 200
    assert _count(app, Grant) == 2 and _count(app, Token) == 2

    listing = owner.get("/developer")
    response = owner.post(f"/developer/{s.app_token}/delete",
                          data={"csrf_token": csrf_token(listing.text)})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/developer"

    assert _apps(app) == []
    assert _count(app, Grant) == 0
    assert _count(app, Token) == 0
    for username, token in (("member", user_token), ("member", site_token),
                            ("admin", site_token)):
        response = Browser(live.url).get(me, headers=basic(username, token))
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
    assert s.app_token not in owner.get("/developer").text
    assert Browser(live.url).get(f"/auth/?apptoken={s.app_token}").status_code == 400
    assert member.get("/profile").status_code == 200
    assert "Test App" not in member.get("/profile").text


# --- CSRF -----------------------------------------------------------------------------


def test_posts_without_csrf_are_refused_and_change_nothing(app, live):
    s = seed(app)
    owner = _logged_in(live, "admin")
    before = _apps(app)
    attempts = [
        ("/developer/add", _app_form()),
        (f"/developer/{s.app_token}/edit", _app_form(name="Changed")),
        (f"/developer/{s.app_token}/secret", {}),
        (f"/developer/{s.app_token}/delete", {}),
    ]
    for path, data in attempts:
        for token in (None, "not-a-valid-token"):
            payload = dict(data)
            if token:
                payload["csrf_token"] = token
            response = owner.post(path, data=payload)
            assert response.status_code == 400, (path, token, response.status_code)
            assert 'id="app-secret"' not in response.text
            assert "Location" not in response.headers
    assert _apps(app) == before
    assert _secret_of(app, s.app_token) == s.app_secret


def test_app_name_is_escaped_everywhere_it_is_shown(app, live):
    seed(app)
    browser = _logged_in(live, "admin")
    name = '<script>alert("x")</script>'
    response = _add(browser, _app_form(name=name))
    assert response.status_code == 200
    token = _shown(response.text)["app-token"]
    pages = [response.text, browser.get("/developer").text,
             browser.get(f"/developer/{token}/edit").text,
             browser.get(f"/auth/?apptoken={token}&type=44").text]
    for page in pages:
        assert name not in page
        assert "&lt;script&gt;" in page
