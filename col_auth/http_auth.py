"""Parsing the ``Authorization: Bearer`` header (RFC 6750 §2.1), shared by the Web
API and the OAuth2 face's UserInfo endpoint."""

from __future__ import annotations

import re

# b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
MAX_TOKEN_LENGTH = 512


def bearer_token(header: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``, or None if absent or malformed."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return token if _B64TOKEN.match(token) else None
