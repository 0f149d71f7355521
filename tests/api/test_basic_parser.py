"""Unit tests of the Basic credentials parser, the token hash and the GUID helpers.

No app is needed: these are pure functions.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from col_auth.core.crypto import token_hash
from col_auth.core.ids import (
    APP_TOKEN_PREFIX,
    SITE_TOKEN_PREFIX,
    USER_TOKEN_PREFIX,
    new_guid,
    parse_guid,
    strip_prefix,
)
from col_auth.http_auth import MAX_CREDENTIALS_LENGTH, parse_basic

GUID = "0F8FAD5B-D9CB-469F-A165-70867728950E"
TOKEN = USER_TOKEN_PREFIX + GUID


def b64(raw: str | bytes) -> str:
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    return base64.b64encode(data).decode("ascii")


def basic(raw: str | bytes) -> str:
    return "Basic " + b64(raw)


# --- parse_basic: accepted ---------------------------------------------------------------


def test_valid_header():
    assert parse_basic(basic(f"admin:{TOKEN}")) == ("admin", TOKEN)


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC", "bAsIc"])
def test_scheme_is_case_insensitive(scheme):
    assert parse_basic(f"{scheme} {b64('admin:' + TOKEN)}") == ("admin", TOKEN)


def test_surrounding_whitespace_is_tolerated():
    assert parse_basic(f"  Basic   {b64('admin:' + TOKEN)}  ") == ("admin", TOKEN)


def test_unicode_username_in_utf8_is_accepted():
    assert parse_basic(basic(f"Zoë-Łukasz-東京:{TOKEN}")) == ("Zoë-Łukasz-東京", TOKEN)


def test_token_with_colon_splits_at_first_colon():
    assert parse_basic(basic("admin:{UserToken}a:b:c")) == ("admin", "{UserToken}a:b:c")


def test_header_at_the_size_limit_is_decoded():
    # 3 bytes of text give 4 base64 characters: fill the limit exactly.
    text = "u:" + "t" * (MAX_CREDENTIALS_LENGTH // 4 * 3 - 2)
    credentials = b64(text)
    assert len(credentials) == MAX_CREDENTIALS_LENGTH
    assert parse_basic("Basic " + credentials) == ("u", text[2:])


# --- parse_basic: refused ----------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "   ", "Basic", "Basic ", "Basic    "])
def test_missing_or_empty(header):
    assert parse_basic(header) is None


@pytest.mark.parametrize("credentials", [
    "YWRtaW46dG9r*",            # stray character
    "YWRta W46dG9r",            # space inside
    "YWRtaW46\ndG9r",           # newline inside
    "YWRtaW46dG9r!",            # punctuation
    "YWRtaW46dG9r.",            # dot
    "YWRtaW46dG9r-_",           # URL-safe alphabet is not standard base64
    "%59WRtaW46dG9r",           # percent-encoded
])
def test_malformed_base64_stray_characters(credentials):
    assert parse_basic("Basic " + credentials) is None


@pytest.mark.parametrize("credentials", [
    "YTp0Yg",       # padding missing
    "YTp0Yg=",      # padding short
    "YTp0Yg===",    # padding too long
    "YTp0=Yg=",     # padding in the middle
    "YT==p0Yg==",   # padding in the middle, then data
    "=YTp0Yg=",     # padding first
    "YTp",          # not a multiple of four
])
def test_malformed_base64_bad_padding(credentials):
    assert parse_basic("Basic " + credentials) is None


def test_non_canonical_base64_is_refused():
    """Only one encoding of a given text is accepted: unused trailing bits must be zero."""
    assert parse_basic("Basic YTp0Yg==") == ("a", "tb")
    assert parse_basic("Basic YTp0Yh==") is None
    assert parse_basic("Basic YTp0Yp==") is None


@pytest.mark.parametrize("text", ["admin", "admin" + TOKEN, "", "nocolon-at-all"])
def test_missing_colon(text):
    assert parse_basic(basic(text)) is None


@pytest.mark.parametrize("text", [":" + TOKEN, ":"])
def test_empty_username(text):
    assert parse_basic(basic(text)) is None


def test_empty_token():
    assert parse_basic(basic("admin:")) is None


@pytest.mark.parametrize("scheme", ["Bearer", "Digest", "Negotiate", "Basicx", "Basic:",
                                    "X-Basic"])
def test_non_basic_scheme(scheme):
    assert parse_basic(f"{scheme} {b64('admin:' + TOKEN)}") is None


def test_scheme_glued_to_credentials_is_refused():
    assert parse_basic("Basic" + b64("admin:" + TOKEN)) is None
    assert parse_basic(b64("admin:" + TOKEN)) is None


@pytest.mark.parametrize("raw", [
    b"admin:\xff\xfe",          # not UTF-8 at all
    b"adm\xe9:tok",             # Latin-1, not UTF-8
    b"admin:tok\xc3",           # truncated multi-byte sequence
    b"\xc0\xafadmin:tok",       # overlong encoding
    b"admin:\xed\xa0\x80",      # encoded surrogate
])
def test_non_utf8_bytes(raw):
    assert parse_basic(basic(raw)) is None


@pytest.mark.parametrize("text", [
    "ad\x00min:tok",            # NUL in the username
    "admin:to\x00k",            # NUL in the token
    "admin\t:tok",              # tab
    "admin:tok\r\n",            # CR LF
    "admin:\x1btok",            # escape
    "admin:tok\x1f",            # unit separator
    "admin:tok\x7f",            # DEL is a CTL too (RFC 5234 B.1)
    "admin\x85:tok",            # C1 control (NEL)
    "admin:tok\x9f",            # C1 control
])
def test_control_characters(text):
    assert parse_basic(basic(text)) is None


def test_oversize_header_is_refused():
    text = "u:" + "t" * (MAX_CREDENTIALS_LENGTH // 4 * 3)
    credentials = b64(text)
    assert len(credentials) > MAX_CREDENTIALS_LENGTH
    assert parse_basic("Basic " + credentials) is None


def test_huge_header_is_refused_quickly():
    assert parse_basic("Basic " + "A" * 10_000_000) is None


# --- token_hash --------------------------------------------------------------------------


def test_token_hash_is_sha256_hex():
    digest = token_hash(TOKEN)
    assert digest == hashlib.sha256(TOKEN.encode("utf-8")).hexdigest()
    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")


def test_token_hash_is_deterministic():
    assert token_hash(TOKEN) == token_hash(TOKEN)
    assert token_hash(TOKEN) == token_hash(USER_TOKEN_PREFIX + GUID)


def test_token_hash_differs_per_token():
    tokens = [USER_TOKEN_PREFIX + new_guid() for _ in range(50)]
    tokens += [SITE_TOKEN_PREFIX + tokens[0][len(USER_TOKEN_PREFIX):]]
    assert len({token_hash(t) for t in tokens}) == len(tokens)


def test_token_hash_is_case_sensitive_and_hashes_utf8():
    assert token_hash(TOKEN) != token_hash(TOKEN.lower())
    assert token_hash("é") == hashlib.sha256("é".encode()).hexdigest()


def test_token_hash_does_not_contain_the_token():
    assert GUID.lower() not in token_hash(TOKEN)


# --- parse_guid / strip_prefix -----------------------------------------------------------

def test_parse_guid_canonical_upper_case():
    assert parse_guid(GUID) == GUID
    assert parse_guid(GUID.lower()) == GUID
    assert parse_guid("0f8fAD5b-d9CB-469f-a165-70867728950e") == GUID


def test_new_guid_round_trips():
    guid = new_guid()
    assert parse_guid(guid) == guid


@pytest.mark.parametrize("text", [
    None,
    "",
    "not-a-guid",
    GUID[:-1],                          # too short
    GUID + "0",                         # too long
    GUID.replace("-", ""),              # no dashes
    "{" + GUID + "}",                   # braces
    " " + GUID,                         # leading space
    GUID + " ",                         # trailing space
    GUID.replace("F", "G", 1),          # not hex
    USER_TOKEN_PREFIX + GUID,           # still prefixed
    "0F8FAD5BD-9CB-469F-A165-70867728950E",  # dash misplaced
    "٠F8FAD5B-D9CB-469F-A165-70867728950E",  # Arabic-Indic digit
])
def test_parse_guid_refuses(text):
    assert parse_guid(text) is None


def test_parse_guid_refuses_trailing_newline():
    assert parse_guid(GUID + "\n") is None


def test_strip_prefix_removes_prefix():
    assert strip_prefix(APP_TOKEN_PREFIX + GUID, APP_TOKEN_PREFIX) == GUID
    assert strip_prefix(USER_TOKEN_PREFIX + GUID, USER_TOKEN_PREFIX) == GUID


def test_strip_prefix_is_case_insensitive():
    assert strip_prefix("{apptoken}" + GUID, APP_TOKEN_PREFIX) == GUID
    assert strip_prefix("{APPTOKEN}" + GUID, APP_TOKEN_PREFIX) == GUID


def test_strip_prefix_leaves_other_text_unchanged():
    assert strip_prefix(GUID, APP_TOKEN_PREFIX) == GUID
    assert strip_prefix(SITE_TOKEN_PREFIX + GUID, USER_TOKEN_PREFIX) == SITE_TOKEN_PREFIX + GUID
    assert strip_prefix("", APP_TOKEN_PREFIX) == ""
    assert strip_prefix("{App", APP_TOKEN_PREFIX) == "{App"
    assert strip_prefix("x" + APP_TOKEN_PREFIX + GUID, APP_TOKEN_PREFIX) == (
        "x" + APP_TOKEN_PREFIX + GUID)


def test_strip_prefix_only_once():
    twice = APP_TOKEN_PREFIX + APP_TOKEN_PREFIX + GUID
    assert strip_prefix(twice, APP_TOKEN_PREFIX) == APP_TOKEN_PREFIX + GUID
