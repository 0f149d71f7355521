"""Which grant types a client may use at the token endpoint, decided in one place.

Every client template allows the authorization-code grant and its refresh
(contract §5); no template allows anything else. RFC 6749 §5.2 tells two refusals
apart: a grant type the server knows of but this client may not use is
``unauthorized_client``; one the server does not know is ``unsupported_grant_type``.
The known ones are those of the specifications listed beside each value (the
``grant_types`` a client can be registered for, RFC 7591 §2). Values are compared
exactly: grant types are case-sensitive (RFC 6749 §4.1.3 ``authorization_code``
"MUST be set to").
"""

from __future__ import annotations

from .errors import UnauthorizedClient, UnsupportedGrantType
from .models import OAuthClient

AUTHORIZATION_CODE = "authorization_code"  # RFC 6749 §4.1.3
REFRESH_TOKEN = "refresh_token"  # RFC 6749 §6
# What a client of any template may use; discovery's ``grant_types_supported`` says
# exactly these (``tests/oauth/test_oidcc_small_points.py`` holds them together).
TEMPLATE_GRANT_TYPES = (AUTHORIZATION_CODE, REFRESH_TOKEN)
# Known, but no template allows them.
NOT_ALLOWED_GRANT_TYPES = (
    "implicit",  # RFC 7591 §2 (response_type=token; never a token request)
    "password",  # RFC 6749 §4.3.2
    "client_credentials",  # RFC 6749 §4.4.2
    "urn:ietf:params:oauth:grant-type:device_code",  # RFC 8628 §3.4
    "urn:ietf:params:oauth:grant-type:jwt-bearer",  # RFC 7523 §2.1
    "urn:ietf:params:oauth:grant-type:saml2-bearer",  # RFC 7522 §2.1
    "urn:ietf:params:oauth:grant-type:token-exchange",  # RFC 8693 §2.1
    "urn:openid:params:grant-type:ciba",  # OpenID CIBA Core 1.0 §10.1
)
KNOWN = TEMPLATE_GRANT_TYPES + NOT_ALLOWED_GRANT_TYPES


def allowed_grant_types(client: OAuthClient) -> tuple[str, ...]:
    """The grant types ``client`` may use: its template's, the same for every
    template today (a per-template choice would be read here)."""
    return TEMPLATE_GRANT_TYPES


def check_grant_type(client: OAuthClient, grant_type: str) -> str:
    """``grant_type`` if ``client`` may use it, else the refusal RFC 6749 §5.2 names.
    Call it once the client is authenticated: an unknown client learns nothing."""
    allowed = allowed_grant_types(client)
    if grant_type in allowed:
        return grant_type
    if grant_type in KNOWN:
        raise UnauthorizedClient(f"This client may not use the {grant_type!r} grant type; "
                                 f"its template allows {' and '.join(allowed)}.")
    raise UnsupportedGrantType(f"Unknown grant_type; use {' or '.join(TEMPLATE_GRANT_TYPES)}.")
