"""RSA keys for id_token signatures and the JWKS that publishes them.

The first configured key signs; every configured key is published, so a new
key can be added in front and the old one kept until every id_token it signed
has expired. Keys are read once per process: they are configuration, not state.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import current_app
from jwt.algorithms import RSAAlgorithm

from ..config import instance_file, list_setting, load_or_create_secret


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    public_jwk: dict


def _generate_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii").strip()


def _thumbprint(jwk: dict) -> str:
    """RFC 7638 JWK thumbprint, used as the ``kid``."""
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"),
                           sort_keys=True)
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@lru_cache(maxsize=8)
def _load(pems: tuple[str, ...]) -> tuple[SigningKey, ...]:
    keys = []
    for pem in pems:
        private_key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError("id_token signing keys must be RSA keys")
        jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        # PyJWT adds ``key_ops``; we publish ``use`` instead, which OIDC clients read,
        # and RFC 7517 §4.3 says the two SHOULD NOT be used together.
        jwk.pop("key_ops", None)
        kid = _thumbprint(jwk)
        jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
        keys.append(SigningKey(kid=kid, private_key=private_key, public_jwk=jwk))
    return tuple(keys)


def signing_keys() -> tuple[SigningKey, ...]:
    configured = list_setting(current_app.config.get("OIDC_SIGNING_KEYS"))
    if configured:
        pems = tuple(Path(p).read_text().strip() for p in configured)
    else:
        path = instance_file(current_app.instance_path, "oidc_signing_key.pem")
        pems = (load_or_create_secret(path, _generate_pem).strip(),)
    return _load(pems)


def active_key() -> SigningKey:
    return signing_keys()[0]


def jwks() -> dict:
    return {"keys": [key.public_jwk for key in signing_keys()]}
