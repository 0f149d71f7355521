"""Usernames follow RFC 8265's UsernameCaseMapped profile (issue 9, finding 12): a name
that looks like another one is the same name, or no name at all."""

from __future__ import annotations

import pytest

from col_auth.core import accounts
from col_auth.core.errors import Conflict, ValidationError
from col_auth.extensions import db
from tests.helpers import PASSWORD, Browser, csrf_token, seed


@pytest.mark.parametrize("look_alike", [
    "ａdmin",          # fullwidth a
    "ＡＤＭＩＮ",       # fullwidth, upper case
    "ADMIN",
    " admin ",
    "Admin",
])
def test_a_name_that_maps_onto_an_existing_one_is_taken(app, look_alike):
    seed(app)
    with app.app_context():
        site = accounts.get_site_by_name("Sample CU")
        with pytest.raises(Conflict) as refused:
            accounts.create_user(look_alike, site=site, password=PASSWORD)
        assert refused.value.code == "username_taken"


@pytest.mark.parametrize("invisible", [
    "admin\u200b",      # zero-width space
    "ad\u200dmin",      # zero-width joiner
    "admin\u00ad",      # soft hyphen
    "ad min",           # a space inside
    "admin\u2028",      # line separator
    "\u202eadmin",      # right-to-left override
    "adm\x07in",
    "",
    "a:b",
    "a" * 151,
])
def test_a_name_with_invisible_or_control_characters_is_refused(app, invisible):
    with app.app_context():
        site = accounts.create_site("Sample CU")
        db.session.commit()
        with pytest.raises(ValidationError) as refused:
            accounts.create_user(invisible, site=site, password=PASSWORD)
        assert refused.value.code == "invalid_username"


@pytest.mark.parametrize("name,key", [
    ("Member", "member"),
    ("ＭＥＭＢＥＲ", "member"),
    ("Straße", "straße"),       # case-mapped, not case-folded to "strasse" (RFC 8265 §3.3.1)
    ("ÅSA", "åsa"),
    ("A\u030angstrom", "ångstrom"),  # NFC
    ("mary.o'brien@example", "mary.o'brien@example"),
])
def test_username_key_is_the_profiles_enforced_form(name, key):
    assert accounts.username_key(name) == key


@pytest.mark.parametrize("spelling", ["ＭＥＭＢＥＲ", "ｍｅｍｂｅｒ", "MEMBER", " member"])
def test_login_maps_the_username_the_same_way(app, live, spelling):
    seed(app)
    browser = Browser(live.url)
    token = csrf_token(browser.get("/login").text)
    response = browser.post("/login", data={"csrf_token": token, "username": spelling,
                                            "password": PASSWORD})
    assert response.status_code == 302
    assert "Morgan Member" in browser.get("/profile").text


@pytest.mark.parametrize("spelling", ["member\u200b", "mem ber", "member\x00"])
def test_login_with_an_impossible_name_is_a_plain_failure(app, live, spelling):
    seed(app)
    browser = Browser(live.url)
    token = csrf_token(browser.get("/login").text)
    response = browser.post("/login", data={"csrf_token": token, "username": spelling,
                                            "password": PASSWORD})
    assert response.status_code == 400
    assert browser.get("/profile").status_code != 200
