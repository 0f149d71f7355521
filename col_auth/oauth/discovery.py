"""Discovery: OpenID Connect Discovery §3 and RFC 8414 §2, one document at both
well-known URLs."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, url_for

from ..core import scopes
from ..core.rfc7636 import SUPPORTED_METHODS
from . import discovery_bp as bp
from . import oidc

CLIENT_AUTH_METHODS = ["client_secret_post", "client_secret_basic"]
# ``none``: a public client sends its client_id alone (RFC 6749 §2.1, §3.2.1; RFC 7009
# §2.1). Not at introspection, which serves protected resources only (RFC 7662 §2.1).
PUBLIC_CLIENT_AUTH_METHODS = [*CLIENT_AUTH_METHODS, "none"]


def metadata() -> dict[str, Any]:
    issuer = current_app.config["ISSUER"]

    def endpoint(name: str) -> str:
        # The issuer is the public base URL (COL_AUTH_ISSUER), whatever host asked.
        return issuer + url_for(name)

    return {
        "issuer": issuer,
        "authorization_endpoint": endpoint("oauth.authorize"),
        "token_endpoint": endpoint("oauth_endpoints.token"),
        "userinfo_endpoint": endpoint("oauth_endpoints.userinfo"),
        "jwks_uri": endpoint("oauth_endpoints.jwks_endpoint"),
        "revocation_endpoint": endpoint("oauth_endpoints.revoke"),
        "introspection_endpoint": endpoint("oauth_endpoints.introspection"),
        # OpenID Connect RP-Initiated Logout 1.0 §2.1.
        "end_session_endpoint": endpoint("oauth_logout.end_session"),
        "scopes_supported": list(scopes.SUPPORTED),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": list(SUPPORTED_METHODS),
        "token_endpoint_auth_methods_supported": PUBLIC_CLIENT_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": PUBLIC_CLIENT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "id_token_signing_alg_values_supported": ["RS256"],
        "subject_types_supported": ["public"],
        "claims_supported": list(oidc.CLAIMS_SUPPORTED),
        "authorization_response_iss_parameter_supported": True,
        # OIDC Discovery §3: what the authorization endpoint does not take.
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "claims_parameter_supported": False,
    }


@bp.get("/.well-known/openid-configuration")
def openid_configuration():
    return jsonify(metadata())


@bp.get("/.well-known/oauth-authorization-server")
def oauth_authorization_server():
    return jsonify(metadata())

