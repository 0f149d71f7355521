"""Unit tests of ``col_auth.legacy.packets``: the claim sets, ``iat``, ``jti``, the header
and the HS256 signature with the AppSecret (contract §3)."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest

from col_auth.core import accounts, legacy_apps, legacy_tokens
from col_auth.core.clock import to_epoch
from col_auth.core.ids import SECRET_KEY_PREFIX, new_guid, parse_guid
from col_auth.core.models import GRANT_SITE_TOKEN, GRANT_USER_TOKEN
from col_auth.extensions import db
from col_auth.legacy import packets
from tests.helpers import seed

USER_CLAIMS = {"iat", "jti", "token", "desc", "username", "userid"}
SITE_CLAIMS = {"iat", "jti", "token", "desc", "siteid", "username", "userid"}
ERROR_CLAIMS = {"iat", "jti", "error"}


def _header_json(packet: str) -> dict:
    """The JOSE header exactly as sent, decoded by hand rather than by PyJWT."""
    segment = packet.split(".")[0]
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return json.loads(raw)


def _decode(packet: str, secret: str) -> dict:
    return jwt.decode(packet, secret.encode("utf-8"), algorithms=["HS256"])


def _is_guid(value) -> bool:
    if not isinstance(value, str) or parse_guid(value) is None:
        return False
    uuid.UUID(value)
    return True


def _issue(app_token: str, username: str, kind: str):
    """A grant and its clear token for ``username`` on the app (inside the app context)."""
    user = accounts.find_user(username)
    app_row = legacy_apps.find_app(app_token)
    grant, token = legacy_tokens.issue_legacy_token(user, app_row, kind)
    db.session.commit()
    return user, grant, token


def test_user_token_claims_exactly(app):
    s = seed(app)
    with app.app_context():
        user, grant, token = _issue(s.app_token, "member", GRANT_USER_TOKEN)
        claims = packets.grant_claims(grant, token, user)
        assert set(claims) == USER_CLAIMS
        assert claims["token"] == token
        assert claims["token"].startswith("{UserToken}")
        assert _is_guid(claims["token"][len("{UserToken}"):])
        assert claims["desc"] == "Morgan Member"
        assert claims["username"] == "Member"
        assert claims["userid"] == s.member_id

        packet = packets.sign(claims, s.app_secret)
        assert _decode(packet, s.app_secret) == claims


def test_site_token_claims_exactly(app):
    s = seed(app)
    with app.app_context():
        user, grant, token = _issue(s.app_token, "admin", GRANT_SITE_TOKEN)
        claims = packets.grant_claims(grant, token, user)
        assert set(claims) == SITE_CLAIMS
        assert claims["token"] == token
        assert claims["token"].startswith("{SiteToken}")
        assert _is_guid(claims["token"][len("{SiteToken}"):])
        assert claims["desc"] == "Sample CU"
        assert claims["siteid"] == s.site_id
        assert claims["username"] == "admin"
        assert claims["userid"] == s.admin_id

        packet = packets.sign(claims, s.app_secret)
        assert _decode(packet, s.app_secret) == claims


@pytest.mark.parametrize("error", [packets.INVALID_TYPE, packets.SITE_ADMIN_REQUIRED])
def test_error_claims_exactly(app, error):
    with app.app_context():
        claims = packets.error_claims(error)
        assert set(claims) == ERROR_CLAIMS
        assert claims["error"] == error
    assert packets.INVALID_TYPE == "invalid_type"
    assert packets.SITE_ADMIN_REQUIRED == "site_admin_required"


def test_iat_is_an_integer_near_now(app):
    with app.app_context():
        before = int(time.time())
        claims = packets.error_claims("invalid_type")
        after = int(time.time())
    iat = claims["iat"]
    assert type(iat) is int
    assert before - 1 <= iat <= after + 1


def test_iat_follows_the_app_clock(app, clock):
    clock.advance(-3600)
    with app.app_context():
        claims = packets.error_claims("invalid_type")
    assert claims["iat"] == to_epoch(clock.moment)
    assert abs(claims["iat"] - (time.time() - 3600)) < 5


def test_jti_is_a_guid_and_unique(app):
    s = seed(app)
    with app.app_context():
        user, grant, token = _issue(s.app_token, "member", GRANT_USER_TOKEN)
        jtis = [packets.error_claims("invalid_type")["jti"] for _ in range(50)]
        jtis += [packets.grant_claims(grant, token, user)["jti"] for _ in range(50)]
    assert all(_is_guid(jti) for jti in jtis)
    assert len(set(jtis)) == len(jtis)


def test_header_is_exactly_hs256_jwt(app):
    s = seed(app)
    with app.app_context():
        user, grant, token = _issue(s.app_token, "admin", GRANT_SITE_TOKEN)
        for claims in (packets.grant_claims(grant, token, user),
                       packets.error_claims("site_admin_required")):
            packet = packets.sign(claims, s.app_secret)
            assert packet.count(".") == 2
            assert _header_json(packet) == {"alg": "HS256", "typ": "JWT"}
            assert jwt.get_unverified_header(packet) == {"alg": "HS256", "typ": "JWT"}


def test_verifies_with_the_app_secret_and_fails_with_another_key(app):
    s = seed(app)
    with app.app_context():
        user, grant, token = _issue(s.app_token, "member", GRANT_USER_TOKEN)
        packet = packets.sign(packets.grant_claims(grant, token, user), s.app_secret)
        error_packet = packets.sign(packets.error_claims("invalid_type"), s.app_secret)

    assert _decode(packet, s.app_secret)["userid"] == s.member_id
    assert _decode(error_packet, s.app_secret)["error"] == "invalid_type"

    other = SECRET_KEY_PREFIX + new_guid()
    guid_only = s.app_secret[len(SECRET_KEY_PREFIX):]
    for wrong in (other, guid_only, s.app_secret.lower(), s.app_secret + " "):
        for signed in (packet, error_packet):
            with pytest.raises(jwt.InvalidSignatureError):
                _decode(signed, wrong)


def test_key_is_the_whole_secret_string_utf8(app):
    """An independent HMAC over the signing input with the UTF-8 AppSecret matches."""
    import hashlib
    import hmac

    secret = SECRET_KEY_PREFIX + new_guid()
    with app.app_context():
        packet = packets.sign(packets.error_claims("invalid_type"), secret)
    signing_input, _, signature = packet.rpartition(".")
    expected = hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"),
                        hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(expected).rstrip(b"=").decode() == signature
