"""Hypothesis properties of what parses untrusted input: the Basic credentials parser,
the legacy client's return reader, the request boundary, the JSON reader, and the
validators of forms and JSON.

Each property says what may come out (a value of the right shape, or the one
exception the caller handles) for anything that can come in. The last ones store
what the checks accept, on SQLite and on PostgreSQL (which refuses NUL and text
longer than its column): whatever a check lets through, each database holds.
Examples per property (and per database): ``COL_AUTH_FUZZ_EXAMPLES`` (default 100).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode, urlsplit

import jwt
import pytest
from flask import Flask
from hypothesis import assume, example, given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from col_auth.client.legacy import (
    AuthorizationError,
    Cancelled,
    LegacyClient,
    PacketError,
    TokenGrant,
)
from col_auth.core import accounts, items, legacy_apps, oauth_clients, oauth_tokens, rfc7636
from col_auth.core.errors import CoreError, InvalidRequest, NotFound, ValidationError
from col_auth.core.items import BODY_MAX, TITLE_MAX, validate_item
from col_auth.core.legacy_apps import check_absolute_url
from col_auth.core.models import AuthorizationCode, ClientTemplate, LegacyApp, OAuthClient, User
from col_auth.core.oauth_clients import LOOPBACK_HOSTS, check_redirect_uri
from col_auth.core.text import is_storable
from col_auth.database import upgrade_database
from col_auth.extensions import db
from col_auth.http_auth import MAX_CREDENTIALS_LENGTH, parse_basic
from col_auth.oauth import authorize
from col_auth.web import boundary
from col_auth.web.json import JSONProvider
from tests.robustness.conftest import PURE, dispose, seeding_app

# --- strategies -------------------------------------------------------------------------

# Text a person or a client could send: any code point but lone surrogates (which no
# HTTP request can carry as UTF-8).
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=80)
# Printable text: no control characters (C0, DEL, C1), no surrogates.
clean_char = st.characters(exclude_categories=("Cc", "Cs"))
# What a database refuses or a check must catch: control characters (NUL first), and
# lengths beyond and at the edges of the columns (36, 64, 150, 200, 500, 2000).
CONTROLS = "\x00\x01\x08\t\n\r\x0b\x1b\x1f\x7f\x85\x9f"
COLUMN_EDGES = [35, 36, 37, 63, 64, 65, 149, 150, 151, 199, 200, 201, 254, 255, 499, 500,
                501, 1999, 2000, 2001, 10_000, 10_001]
hostile_text = st.one_of(
    any_text,
    st.text(st.sampled_from(CONTROLS + "ab :/."), min_size=1, max_size=10),
    st.sampled_from(COLUMN_EDGES).map(lambda n: "n" * n),
    st.builds(lambda n, ch: "\u00e9" * (n - 1) + ch, st.sampled_from(COLUMN_EDGES),
              st.sampled_from(["x", "\x00", "\u3002"])),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# --- parse_basic ------------------------------------------------------------------------


def _check_basic_result(result) -> None:
    if result is None:
        return
    username, token = result
    assert isinstance(username, str) and isinstance(token, str)
    assert username and token
    assert ":" not in username, "the username ends at the first colon"
    for ch in username + token:
        assert unicodedata.category(ch) != "Cc", repr(ch)


@PURE
@given(header=st.one_of(st.none(), any_text, st.binary().map(lambda b: b.decode("latin-1"))))
@example(header="Basic")
@example(header="Basic ===")
@example(header="basic Og==")  # ":"
def test_parse_basic_never_raises_on_any_text(header):
    _check_basic_result(parse_basic(header))


@PURE
@given(raw=st.binary(max_size=200), scheme=st.sampled_from(["Basic", "basic", "BASIC"]),
       spaces=st.sampled_from([" ", "  ", " \t", ""]))
@example(raw=b"user:\x00token", scheme="Basic", spaces=" ")
@example(raw=b"user:tok\xc2\x85en", scheme="Basic", spaces=" ")  # U+0085, a C1 control
@example(raw=b"\xff\xfe:x", scheme="Basic", spaces=" ")
def test_parse_basic_never_raises_on_any_base64(raw, scheme, spaces):
    header = f"{scheme}{spaces}{_b64(raw)}"
    _check_basic_result(parse_basic(header))


@PURE
@given(credentials=st.text(st.sampled_from(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\r\n.-_"),
    max_size=120))
def test_parse_basic_refuses_non_canonical_base64(credentials):
    """Whatever is accepted is exactly the canonical base64 of what came out."""
    result = parse_basic("Basic " + credentials)
    _check_basic_result(result)
    if result is not None:
        username, token = result
        assert _b64(f"{username}:{token}".encode()) == credentials.strip()


@PURE
@given(username=st.text(clean_char.filter(lambda ch: ch != ":"), min_size=1, max_size=60),
       token=st.text(clean_char, min_size=1, max_size=120))
@example(username="Member", token="{UserToken}0F8FAD5B-D9CB-469F-A165-70867728950E")
@example(username="ünïcode", token="a:b:c")
@example(username=" spaced ", token=" x ")
def test_parse_basic_round_trips_valid_credentials(username, token):
    encoded = _b64(f"{username}:{token}".encode())
    assume(len(encoded) <= MAX_CREDENTIALS_LENGTH)
    assert parse_basic(f"Basic {encoded}") == (username, token)
    assert parse_basic(f"  basic   {encoded}  ") == (username, token)


# --- LegacyClient.read_return -----------------------------------------------------------

SECRET = "{SecretKey}" + str(uuid.uuid4()).upper()
OTHER_SECRET = "{SecretKey}" + str(uuid.uuid4()).upper()
NOW = 1_700_000_000


def _client() -> LegacyClient:
    return LegacyClient("https://col.example", str(uuid.uuid4()).upper(), SECRET,
                        clock=lambda: float(NOW))


def _read(source):
    """What the reader may do: return a grant or a cancel, or raise one of its two."""
    try:
        result = _client().read_return(source)
    except (PacketError, AuthorizationError):
        return None
    assert isinstance(result, TokenGrant | Cancelled)
    return result


@PURE
@given(query=any_text)
@example(query="jwt=")
@example(query="jwt=a.b.c&jwt=a.b.c")
@example(query="https://app.example/return?cancel=1")
@example(query="/return?jwt=%00")
def test_read_return_on_any_query_string(query):
    _read(query)
    _read("?" + query)
    _read("https://app.example/return?" + query)


@PURE
@given(packet=any_text)
@example(packet="..")
@example(packet="e30.e30.")
@example(packet="eyJhbGciOiJIUzI1NiJ9..")
def test_read_return_on_any_jwt_string(packet):
    _read("jwt=" + quote(packet, safe=""))
    _read({"jwt": packet})
    _read({"jwt": [packet, packet]})


@PURE
@given(params=st.dictionaries(any_text, st.one_of(any_text, st.lists(any_text, max_size=3),
                                                  st.integers(), st.none()), max_size=4))
def test_read_return_on_any_mapping(params):
    _read(params)


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_claims = st.fixed_dictionaries(
    {},
    optional={
        "iat": st.one_of(st.integers(), st.just(NOW), st.floats(allow_nan=False),
                         st.booleans(), any_text, st.integers(min_value=-(10 ** 400),
                                                              max_value=10 ** 400)),
        "jti": st.one_of(st.uuids().map(str), any_text, st.integers()),
        "token": st.one_of(st.uuids().map(lambda u: "{UserToken}" + str(u).upper()),
                           st.uuids().map(lambda u: "{SiteToken}" + str(u).upper()), any_text,
                           st.none()),
        "desc": st.one_of(any_text, st.integers()),
        "username": st.one_of(any_text, st.none()),
        "userid": st.one_of(st.uuids().map(str), any_text),
        "siteid": st.one_of(st.uuids().map(str), any_text),
        "error": st.one_of(any_text, st.integers(), st.none()),
    },
) | st.dictionaries(any_text, json_values, max_size=5)

_headers = st.one_of(
    st.just({"alg": "HS256", "typ": "JWT"}),
    st.just({"alg": "HS256"}),
    st.fixed_dictionaries({"alg": st.sampled_from(["HS256", "none", "RS256", "HS512"]),
                           "typ": st.one_of(st.just("JWT"), any_text, st.integers())}),
    st.dictionaries(any_text, json_values, max_size=3),
)


@PURE
@given(header=_headers, claims=_claims, key=st.sampled_from([SECRET, OTHER_SECRET]),
       payload_is_json=st.booleans(), raw_payload=st.binary(max_size=40))
@example(header={"alg": "HS256", "typ": "JWT"},
         claims={"iat": 10 ** 400, "jti": str(uuid.uuid4()), "error": "invalid_type"},
         key=SECRET, payload_is_json=True, raw_payload=b"")
@example(header={"alg": "HS256", "typ": "JWT"},
         claims={"iat": -(10 ** 400), "jti": str(uuid.uuid4()), "error": "invalid_type"},
         key=SECRET, payload_is_json=True, raw_payload=b"")
def test_read_return_on_signed_packets_of_any_shape(header, claims, key, payload_is_json,
                                                     raw_payload):
    """Packets that pass the signature check (or fail it) with any header and any
    claims: the claim checks refuse what is not the contract's, without crashing."""
    payload = json.dumps(claims).encode() if payload_is_json else raw_payload
    signing_input = _segment(json.dumps(header).encode()) + "." + _segment(payload)
    signature = hmac.new(key.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    packet = signing_input + "." + _segment(signature)
    result = _read(urlencode({"jwt": packet}))
    if isinstance(result, TokenGrant):
        assert key == SECRET
        assert result.token.startswith(("{UserToken}", "{SiteToken}"))


@PURE
@given(kind=st.sampled_from(["user", "site", "error"]), age=st.integers(-120, 1200))
def test_read_return_accepts_exactly_the_fresh_good_packets(kind, age):
    """The positive side: a well-formed packet is accepted iff its age is in range."""
    client = _client()
    iat = NOW - age
    claims: dict = {"iat": iat, "jti": str(uuid.uuid4()).upper()}
    if kind == "error":
        claims["error"] = "site_admin_required"
    else:
        prefix = "{SiteToken}" if kind == "site" else "{UserToken}"
        claims.update(token=prefix + str(uuid.uuid4()).upper(), desc="Morgan",
                      username="member", userid=str(uuid.uuid4()).upper())
        if kind == "site":
            claims["siteid"] = str(uuid.uuid4()).upper()
    packet = jwt.encode(claims, SECRET, algorithm="HS256")
    fresh = -client.skew <= age <= client.max_age
    try:
        result = client.read_return("jwt=" + packet)
    except AuthorizationError as exc:
        assert kind == "error" and fresh
        assert exc.error == "site_admin_required"
        return
    except PacketError as exc:
        assert not fresh, exc
        assert exc.code in ("stale", "from_the_future")
        return
    assert fresh and kind != "error"
    assert isinstance(result, TokenGrant)
    assert result.kind == ("site_token" if kind == "site" else "user_token")


# --- form and JSON validators -----------------------------------------------------------


@PURE
@given(data=json_values)
def test_validate_item_on_any_json(data):
    try:
        title, body = validate_item(data)
    except ValidationError:
        return
    assert isinstance(title, str) and title and title == title.strip()
    assert len(title) <= TITLE_MAX and isinstance(body, str) and len(body) <= BODY_MAX


@PURE
@given(title=st.one_of(any_text, st.text(max_size=300), json_values),
       body=st.one_of(st.text(max_size=50), any_text, json_values, st.just("x" * (BODY_MAX + 1))),
       with_body=st.booleans(), extra=st.one_of(st.none(), any_text))
@example(title="\x00", body="", with_body=True, extra=None)
@example(title="ok", body="\ud800", with_body=True, extra=None)
@example(title=" \t ", body="", with_body=False, extra=None)
def test_validate_item_on_item_shaped_json(title, body, with_body, extra):
    data = {"title": title}
    if with_body:
        data["body"] = body
    if extra is not None and extra not in ("title", "body"):
        data[extra] = 1
    try:
        validated = validate_item(data)
    except ValidationError:
        return
    stored_title, stored_body = validated
    assert extra is None or extra in ("title", "body")
    for ch in stored_title:
        assert unicodedata.category(ch) not in ("Cc", "Cs")
    for ch in stored_body:
        assert unicodedata.category(ch) != "Cs"
        assert unicodedata.category(ch) != "Cc" or ch in "\r\n\t"


_hosts = st.sampled_from(["client.example", "evil.example", "localhost", "127.0.0.1", "[::1]",
                          "[::1", "xn--80ak6aa92e.com", "EXAMPLE.com", "a.example:8443",
                          "a.example:99999", "a.example:-1", "client.example@evil.example",
                          ":@evil.example", "ex\\ample.com", "", "%2F%2Fevil.example",
                          "exa mple.com", "ｅｘａｍｐｌｅ．com", "\u2100.example",
                          # look-alikes: ideographic and fullwidth dots, Cyrillic letters
                          "client.example\u3002evil.com", "client.example\uff0eevil.com",
                          "client.example\uff61evil.com", "cli\u0435nt.example",
                          "\u0430pple.com", "a.example:\uff18\uff10", "b\u00fccher.example"])
_urls = st.one_of(
    any_text,
    st.builds(lambda scheme, sep, host, path, tail: f"{scheme}{sep}{host}{path}{tail}",
              st.sampled_from(["https", "http", "HTTPS", "javascript", "ftp", "", "data"]),
              st.sampled_from(["://", ":", ":/", ":\\\\", "//", ":///"]),
              _hosts,
              st.one_of(st.just(""), st.just("/cb"), any_text.map(lambda t: "/" + t)),
              st.sampled_from(["", "?a=1", "#frag", "?next=//evil.example", "\x00", " x"])),
)


def _url_is_sane(url: str) -> None:
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https")
    assert parts.hostname
    assert parts.netloc.isascii(), "hosts are ASCII (an IDN in its xn-- form)"
    assert "@" not in parts.netloc
    assert "\\" not in url
    assert not any(ch.isspace() for ch in url)
    for ch in url:
        assert unicodedata.category(ch) not in ("Cc", "Cs")


@PURE
@given(uri=_urls)
@example(uri="https://client.example@evil.example/cb")
@example(uri="https://client.example/cb#x")
@example(uri="http://evil.example/cb")
@example(uri="https://[::1/cb")
@example(uri="https://a.example:99999/cb")
def test_check_redirect_uri_on_any_text(uri):
    try:
        checked = check_redirect_uri(uri)
    except ValidationError:
        return
    _url_is_sane(checked)
    parts = urlsplit(checked)
    assert not parts.fragment and "#" not in checked
    assert parts.scheme == "https" or parts.hostname in LOOPBACK_HOSTS


@PURE
@given(url=_urls)
@example(url="https:evil.example")
@example(url="//evil.example")
@example(url="https://app.example\\@evil.example/")
@example(url="https://app.example/" + "a" * 2001)
def test_check_absolute_url_on_any_text(url):
    try:
        checked = check_absolute_url(url, "Return URL")
    except ValidationError:
        return
    _url_is_sane(checked)


@PURE
@given(url=_urls, long_path=st.sampled_from([0, 1900, 1990, 2000, 2100]))
@example(url="https://client.example\u3002evil.com/cb", long_path=0)
def test_url_checks_accept_nothing_longer_than_the_columns(url, long_path):
    url = url + "/" + "p" * long_path if long_path else url
    for check in (check_redirect_uri, lambda u: check_absolute_url(u, "Return URL")):
        try:
            checked = check(url)
        except ValidationError:
            continue
        assert len(checked) <= LegacyApp.return_url.type.length
        assert len(checked) <= AuthorizationCode.redirect_uri.type.length


# --- the request boundary and the JSON reader ---------------------------------------------


@PURE
@given(text=st.one_of(any_text, hostile_text, st.text(max_size=40)),
       multiline=st.booleans())
@example(text="plain ascii", multiline=False)
@example(text="tab\there", multiline=True)
@example(text="\x7f", multiline=False)
@example(text="\x85", multiline=True)
@example(text="\ud800", multiline=False)
def test_the_boundary_refuses_exactly_what_is_not_storable(text, multiline):
    """``is_storable``'s quick path (printable ASCII) decides as the character by
    character definition does, and the boundary refuses exactly what is not storable."""
    expected = all(unicodedata.category(ch) != "Cs"
                   and (unicodedata.category(ch) != "Cc" or (multiline and ch in "\n\r\t"))
                   for ch in text)
    assert is_storable(text, multiline) is expected
    try:
        boundary.check_form(MultiDict([("field", text)]) if multiline
                            else MultiDict([(text or "x", "v")]))
    except InvalidRequest:
        assert not expected
    else:
        assert expected


@PURE
@given(raw=st.binary(max_size=60))
@example(raw="—".encode())
@example(raw=b"\x00")
@example(raw=b"\xc2\x85")
def test_a_header_is_read_as_the_utf8_text_it_carries(raw):
    """WSGI's latin-1 header string, read back as UTF-8: the controls it holds are the
    ones the bytes encode, not the C1 look of UTF-8's continuation bytes."""
    text = boundary.header_text(raw.decode("latin-1"))
    assert text == raw.decode("utf-8", "replace")


_json_reader = JSONProvider(Flask("fuzz"))
_json_texts = st.one_of(
    json_values.map(json.dumps),
    st.integers(1, 100_000).map(lambda n: "[" * n),
    st.integers(1, 50_000).map(lambda n: '{"a":' * n),
    st.integers(1, 3_000).map(lambda n: "[" * n + "]" * n),
    st.tuples(st.integers(1, 3_000), any_text).map(lambda t: "[" * t[0] + json.dumps(t[1])),
    any_text,
)


@PURE
@given(text=_json_texts)
@example(text="[" * 100_000)
@example(text="[" * 500 + "]" * 500)
def test_the_json_reader_never_lets_a_recursion_error_out(text):
    try:
        _json_reader.loads(text)
    except InvalidRequest as exc:
        assert exc.code == "invalid_request"
    except ValueError:
        pass  # not JSON: Flask answers 400 (or get_json(silent=True) gives None)


# --- what the checks accept, each database stores ----------------------------------------

STORE_TRIED: dict[str, int] = {}


@dataclass
class Store:
    app: Flask
    backend: str
    user_id: str
    template_id: str
    client_pk: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request, tmp_path_factory) -> Iterator[Store]:
    """An app on a database of this module's own (a fresh PostgreSQL database from
    ``pg_database``, or a SQLite file), with a user, a template and a client."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_database")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz-sqlite')}/fuzz.sqlite"
    app = seeding_app(url, str(tmp_path_factory.mktemp("fuzz-instance")))
    upgrade_database(app)
    with app.app_context():
        site = accounts.create_site("Fuzz site")
        user = accounts.create_user("fuzzer", site=site, password="pw")
        module = oauth_clients.create_module("Fuzz module")
        external_app = oauth_clients.ensure_external_app_enabled(module)
        template = oauth_clients.create_template(external_app, "Fuzz", "openid api")
        client, _ = oauth_clients.create_client(template, name="Fuzz client",
                                                redirect_uris=["https://client.example/cb"])
        db.session.commit()
        ids = (user.id, template.id, client.id)
    yield Store(app, request.param, *ids)
    dispose(app)


def _stores(store: Store, test: str, attempt) -> None:
    """Run ``attempt`` (a check, then what stores what it accepted) and flush: a
    refusal is a ``CoreError``; anything else the database must take. Nothing stays."""
    label = f"{test}[{store.backend}]"
    STORE_TRIED[label] = STORE_TRIED.get(label, 0) + 1
    with store.app.app_context():
        try:
            attempt()
            db.session.flush()
        except CoreError:
            pass
        finally:
            db.session.rollback()
            db.session.remove()


@pytest.fixture(scope="module", autouse=True)
def _report_store_counts():
    yield
    if STORE_TRIED:
        print("STORE TRIED", dict(sorted(STORE_TRIED.items())))


@PURE
@given(title=hostile_text, body=st.one_of(hostile_text, st.just("b" * BODY_MAX)),
       key=st.one_of(st.none(), hostile_text))
@example(title="n" * 201, body="", key=None)
@example(title="a\x00b", body="", key=None)
@example(title="ok", body="a\x00b", key=None)
def test_items_the_validator_accepts_are_stored(store, title, body, key):
    data = {"title": title, "body": body}
    if key is not None:
        data[key] = "x"

    def attempt() -> None:
        items.create_item(db.session.get(User, store.user_id), data)

    _stores(store, "items", attempt)


@PURE
@given(name=hostile_text, return_url=_urls, privacy_url=st.one_of(st.none(), _urls),
       long_path=st.sampled_from([0, 1990, 2100]))
@example(name="App", return_url="https://app.example/" + "p" * 1981, privacy_url=None,
         long_path=0)
def test_legacy_apps_the_checks_accept_are_stored(store, name, return_url, privacy_url,
                                                 long_path):
    return_url += "p" * long_path

    def attempt() -> None:
        legacy_apps.register_app(db.session.get(User, store.user_id), name=name,
                                 return_url=return_url, privacy_url=privacy_url)

    _stores(store, "legacy_apps", attempt)


@PURE
@given(name=hostile_text, description=hostile_text,
       uris=st.lists(st.one_of(_urls, st.just("https://client.example/cb")), max_size=3),
       which=st.sampled_from(["module", "external_app", "template", "client"]))
def test_modules_templates_and_clients_the_checks_accept_are_stored(store, name, description,
                                                                    uris, which):
    def attempt() -> None:
        template = db.session.get(ClientTemplate, store.template_id)
        if which == "module":
            oauth_clients.create_module(name, description)
        elif which == "external_app":
            oauth_clients.configure_external_app(template.external_app, enabled=True,
                                                 use_module_data=False, name=name,
                                                 description=description)
        elif which == "template":
            oauth_clients.create_template(template.external_app, name, "api")
        else:
            oauth_clients.create_client(template, name=name, redirect_uris=uris)

    _stores(store, "clients", attempt)


@PURE
@given(nonce=st.one_of(st.none(), hostile_text), state=st.one_of(st.none(), hostile_text),
       challenge=st.one_of(st.none(), hostile_text,
                           st.text(st.sampled_from("AZaz09-._~"), min_size=43, max_size=43)))
@example(nonce="n" * 501, state=None, challenge=None)
@example(nonce="a\x00b", state=None, challenge=None)
def test_authorization_requests_the_checks_accept_are_stored(store, nonce, state, challenge):
    """What reaches "Allow": the query passed the boundary, the parameters their
    lengths, the challenge RFC 7636; the code then stores the nonce and challenge."""
    params = {k: v for k, v in (("nonce", nonce), ("state", state),
                                ("code_challenge", challenge)) if v is not None}

    def attempt() -> None:
        for value in params.values():  # query values: no TAB, CR or LF either
            if not is_storable(value):
                raise InvalidRequest("control character")
        authorize.check_lengths(params)
        if challenge is not None and not rfc7636.is_valid_challenge(challenge):
            raise InvalidRequest("code_challenge is malformed")
        oauth_tokens.create_code(db.session.get(OAuthClient, store.client_pk),
                                 db.session.get(User, store.user_id),
                                 redirect_uri="https://client.example/cb", scope="openid api",
                                 nonce=nonce or None, code_challenge=challenge or None,
                                 auth_time=datetime(2026, 1, 1))

    _stores(store, "authorization_codes", attempt)


@PURE
@given(text=st.one_of(hostile_text, st.uuids().map(str)))
@example(text="a\x00b")
@example(text="n" * 65)
def test_lookups_by_what_the_boundary_lets_through_never_fail(store, text):
    """Ids and names from the path, the query or a form reach these lookups only if
    the boundary let them through (no control characters): none may fail on it."""
    if not is_storable(text, multiline=True):
        return

    def attempt() -> None:
        oauth_clients.find_client(text)
        legacy_apps.find_app(text)
        accounts.find_user(text)
        for lookup in (oauth_clients.get_module, oauth_clients.get_module_by_name):
            with contextlib.suppress(NotFound):
                lookup(text)

    _stores(store, "lookups", attempt)
