"""Token (RFC 6749 §3.2), revocation (RFC 7009), introspection (RFC 7662),
UserInfo (OIDC Core §5.3) and JWKS endpoints. Errors are raised and answered
in JSON by the blueprint's handler (RFC 6749 §5.2, RFC 6750 §3.1)."""

from __future__ import annotations

from flask import current_app, g, jsonify

from ..core.errors import InvalidRequest, UnsupportedGrantType
from ..core.models import OAuthClient
from ..core.oauth_tokens import redeem_code, refresh
from ..core.purge import maybe_purge
from ..core.rfc7009 import revoke_token
from ..core.rfc7662 import introspect
from ..core.signing_keys import jwks
from ..extensions import limit_from, limiter
from ..http_auth import BEARER, require_token
from ..web import client_ip
from ..web.headers import no_store
from . import endpoints_bp as bp
from . import oidc, rfc6749


def _required(params: dict[str, str], name: str) -> str:
    if not params.get(name):
        raise InvalidRequest(f"{name} is required.")
    return params[name]


@bp.post("/token")
@limiter.limit(limit_from("TOKEN_RATE_LIMIT"))
def token():
    params = rfc6749.form_params()
    client = rfc6749.authenticate(params)
    grant_type = _required(params, "grant_type")
    if grant_type == "authorization_code":
        issued = redeem_code(client, _required(params, "code"), params.get("redirect_uri"),
                             params.get("code_verifier"), ip=client_ip())
    elif grant_type == "refresh_token":
        issued = refresh(client, _required(params, "refresh_token"), params.get("scope"),
                         ip=client_ip())
    else:
        raise UnsupportedGrantType("grant_type must be authorization_code or refresh_token.")
    body = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "refresh_token": issued.refresh_token,
        "scope": issued.scope,
    }
    if "openid" in issued.scope.split():
        body["id_token"] = oidc.id_token(issued.grant, client, issued.grant.user, issued.nonce)
    maybe_purge()
    return no_store(jsonify(body))


def _client_and_token() -> tuple[OAuthClient, str]:
    """The authenticated client and the ``token`` parameter of a revocation or
    introspection request (RFC 7009 §2.1, RFC 7662 §2.1)."""
    params = rfc6749.form_params()
    client = rfc6749.authenticate(params)
    return client, _required(params, "token")


@bp.post("/revoke")
@limiter.limit(limit_from("TOKEN_RATE_LIMIT"))
def revoke():
    client, token_value = _client_and_token()
    # RFC 7009 §2.2: 200 whether or not the token was valid; hints are only hints.
    revoke_token(client, token_value, ip=client_ip())
    return no_store(current_app.response_class(status=200))


@bp.post("/introspect")
@limiter.limit(limit_from("TOKEN_RATE_LIMIT"))
def introspection():
    client, token_value = _client_and_token()
    return no_store(jsonify(introspect(client, token_value)))


@bp.route("/userinfo", methods=["GET", "POST"])
@require_token(scope="openid", schemes=(BEARER,))
def userinfo():
    return no_store(jsonify(oidc.user_claims(g.principal.user)))


@bp.get("/jwks")
def jwks_endpoint():
    response = jsonify(jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
