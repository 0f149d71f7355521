"""OpenID Provider metadata (OIDC Discovery §3) and RFC 8414 metadata."""

from __future__ import annotations

from flask import current_app, jsonify

from ..core.oauth_clients import SUPPORTED_SCOPES
from ..core.rfc7636 import SUPPORTED_METHODS
from . import bp


def metadata() -> dict:
    issuer = current_app.config["ISSUER"]
    base = f"{issuer}/api/o/oauth/v2"
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/jwks",
        "revocation_endpoint": f"{base}/revoke",
        "introspection_endpoint": f"{base}/introspect",
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": list(SUPPORTED_METHODS),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_post",
                                                       "client_secret_basic"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_post",
                                                          "client_secret_basic"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "email",
                             "company", "name", "preferred_username"],
        "authorization_response_iss_parameter_supported": True,
    }


@bp.get("/.well-known/openid-configuration")
def openid_configuration():
    return jsonify(metadata())


@bp.get("/.well-known/oauth-authorization-server")
def oauth_authorization_server():
    return jsonify(metadata())
