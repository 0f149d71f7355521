"""Token (RFC 6749 §3.2), revocation (RFC 7009), introspection (RFC 7662),
UserInfo (OIDC Core §5.3) and JWKS endpoints."""

from __future__ import annotations

from flask import current_app, jsonify, request

from ..core.errors import OAuthError
from ..core.oauth_tokens import introspect, redeem_code, refresh, revoke_token
from ..core.purge import maybe_purge
from ..core.signing_keys import jwks
from ..extensions import csrf, limiter
from ..web import client_ip, no_store
from . import bp, oidc, rfc6749, rfc6750


def _token_limit() -> str:
    return current_app.config["TOKEN_RATE_LIMIT"]


@bp.post("/api/o/oauth/v2/token")
@csrf.exempt
@limiter.limit(_token_limit)
def token():
    try:
        params = rfc6749.form_params()
        client = rfc6749.authenticate(params)
        grant_type = params.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required.")
        if grant_type == "authorization_code":
            if not params.get("code"):
                raise OAuthError("invalid_request", "code is required.")
            issued = redeem_code(client, params["code"], params.get("redirect_uri"),
                                 params.get("code_verifier"), ip=client_ip())
        elif grant_type == "refresh_token":
            if not params.get("refresh_token"):
                raise OAuthError("invalid_request", "refresh_token is required.")
            issued = refresh(client, params["refresh_token"], params.get("scope"),
                             ip=client_ip())
        else:
            raise OAuthError("unsupported_grant_type",
                             "grant_type must be authorization_code or refresh_token.")
    except OAuthError as exc:
        return rfc6749.error_response(exc)

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


def _client_and_token():
    """The authenticated client and the ``token`` parameter of a revocation or
    introspection request (RFC 7009 §2.1, RFC 7662 §2.1)."""
    params = rfc6749.form_params()
    client = rfc6749.authenticate(params)
    if not params.get("token"):
        raise OAuthError("invalid_request", "token is required.")
    return client, params["token"]


@bp.post("/api/o/oauth/v2/revoke")
@csrf.exempt
@limiter.limit(_token_limit)
def revoke():
    try:
        client, token_value = _client_and_token()
    except OAuthError as exc:
        return rfc6749.error_response(exc)
    # RFC 7009 §2.2: 200 whether or not the token was valid; hints are only hints.
    revoke_token(client, token_value, ip=client_ip())
    return no_store(current_app.response_class(status=200))


@bp.post("/api/o/oauth/v2/introspect")
@csrf.exempt
@limiter.limit(_token_limit)
def introspection():
    try:
        client, token_value = _client_and_token()
    except OAuthError as exc:
        return rfc6749.error_response(exc)
    body = {k: v for k, v in introspect(client, token_value).items() if v is not None}
    return no_store(jsonify(body))


@bp.route("/api/o/oauth/v2/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo():
    principal, failure = rfc6750.authenticate(request, required_scope="openid")
    if failure is not None:
        return failure
    return no_store(jsonify(oidc.user_claims(principal.user)))


@bp.get("/api/o/oauth/v2/jwks")
def jwks_endpoint():
    response = jsonify(jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
