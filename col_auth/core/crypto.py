"""Secrets at rest and the hashes tokens are kept as.

AppSecrets must be recoverable (the server signs packets with them), so they
are encrypted with Fernet; several keys may be configured, newest first, so a
key can be rotated without losing the secrets written under the old one.
Tokens are only ever compared, so they are kept as SHA-256 hashes.
"""

from __future__ import annotations

import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_UNDECRYPTABLE = "a stored secret cannot be decrypted with the configured ENCRYPTION_KEYS"


class SecretBox:
    """Encrypts and decrypts short secrets with the configured Fernet keys."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise ValueError(_UNDECRYPTABLE) from exc

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the newest key."""
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise ValueError(_UNDECRYPTABLE) from exc


def generate_fernet_key() -> str:
    return Fernet.generate_key().decode("ascii")


def token_hash(token: str) -> str:
    """SHA-256 hex of a high-entropy token: enough, as tokens are random GUIDs."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()

