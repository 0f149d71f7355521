"""Hypothesis properties of what parses untrusted input: the Basic credentials parser,
the legacy client's return reader, and the validators of forms and JSON.

Each property says what may come out (a value of the right shape, or the one
exception the caller handles) for anything that can come in. Examples per
property: ``COL_AUTH_FUZZ_EXAMPLES`` (default 100).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import unicodedata
import uuid
from urllib.parse import quote, urlencode, urlsplit

import jwt
from hypothesis import assume, example, given
from hypothesis import strategies as st

from col_auth.client.legacy import (
    AuthorizationError,
    Cancelled,
    LegacyClient,
    PacketError,
    TokenGrant,
)
from col_auth.core.errors import ValidationError
from col_auth.core.items import BODY_MAX, TITLE_MAX, validate_item
from col_auth.core.legacy_apps import check_absolute_url
from col_auth.core.oauth_clients import LOOPBACK_HOSTS, check_redirect_uri
from col_auth.http_auth import MAX_CREDENTIALS_LENGTH, parse_basic
from tests.robustness.conftest import PURE

# --- strategies -------------------------------------------------------------------------

# Text a person or a client could send: any code point but lone surrogates (which no
# HTTP request can carry as UTF-8).
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=80)
# Printable text: no control characters (C0, DEL, C1), no surrogates.
clean_char = st.characters(exclude_categories=("Cc", "Cs"))
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
                          "exa mple.com", "ｅｘａｍｐｌｅ．com", "\u2100.example"])
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
