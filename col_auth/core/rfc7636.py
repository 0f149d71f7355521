"""PKCE, RFC 7636: only S256; ``plain`` is refused (RFC 9700 §2.1.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

S256 = "S256"
SUPPORTED_METHODS = (S256,)
# §4.1 and §4.2: 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def is_valid_challenge(challenge: str) -> bool:
    """An S256 challenge is base64url of a SHA-256: 43 characters of the same alphabet."""
    return bool(_VERIFIER.match(challenge or "")) and len(challenge) == 43


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(verifier: str | None, challenge: str) -> bool:
    """§4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge."""
    if not verifier or not _VERIFIER.match(verifier):
        return False
    return hmac.compare_digest(s256(verifier), challenge)
