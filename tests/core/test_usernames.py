"""Usernames follow RFC 8265's UsernameCaseMapped profile (issue 9, finding 12): a name
that looks like another one is the same name, or no name at all."""

from __future__ import annotations

import functools
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from col_auth import create_app
from col_auth.accounts import throttle
from col_auth.core import accounts
from col_auth.core.errors import Conflict, InvalidRequest, ValidationError
from col_auth.extensions import db
from tests.helpers import PASSWORD, Browser, csrf_token, seed
from tests.robustness.conftest import PURE


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



# --- properties, for any input ----------------------------------------------------------

_names = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=200),
    st.text(st.sampled_from("aAａＡ\u200b\u00ad \t\x00\x1b:é\u0301ßİ"), max_size=20),
    st.integers(140, 2000).map(lambda n: "x" * n),
)


@PURE
@given(name=_names)
def test_a_key_is_short_printable_and_stable_or_there_is_none(name):
    try:
        key = accounts.username_key(name)
    except ValidationError as refused:
        assert refused.code == "invalid_username"
        return
    assert 0 < len(key) <= accounts.MAX_USERNAME_LENGTH
    assert ":" not in key
    assert all(ch.isprintable() and not ch.isspace() for ch in key), repr(key)
    assert accounts.username_key(key) == key, "enforcing twice changes nothing"


@functools.cache
def _app_without_database():
    return create_app({"INSTANCE_PATH": tempfile.mkdtemp(), "TESTING": True})


@PURE
@given(name=_names)
def test_sign_in_limit_keys_are_short_whatever_the_username(name):
    app = _app_without_database()
    with app.test_request_context("/login", method="POST", data={"username": name},
                                  environ_base={"REMOTE_ADDR": "2001:db8::1"}):
        try:
            keys = (throttle.address_key(), throttle.username_address_key())
        except InvalidRequest:
            return  # refused at the boundary (control characters): no key is built
        for key in keys:
            assert len(key) <= 100, key
