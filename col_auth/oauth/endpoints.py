"""Token (RFC 6749 §3.2), revocation (RFC 7009), introspection (RFC 7662),
UserInfo (OIDC Core §5.3) and JWKS endpoints. Errors are raised and answered
in JSON by the blueprint's handler (RFC 6749 §5.2, RFC 6750 §3.1)."""

from __future__ import annotations

from flask import g, jsonify
from sqlalchemy.orm import joinedload

from ..core.errors import InvalidRequest
from ..core.grant_types import AUTHORIZATION_CODE, check_grant_type
from ..core.models import Grant, OAuthClient, User
from ..core.oauth_tokens import IssuedTokens, redeem_code, refresh
from ..core.purge import maybe_purge
from ..core.rfc7009 import revoke_token
from ..core.rfc7662 import introspect
from ..core.signing_keys import jwks
from ..extensions import db, limit_from, limiter
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
    # RFC 6749 §5.2: unauthorized_client or unsupported_grant_type, once the client
    # is known; past this, grant_type is one of the client's.
    grant_type = check_grant_type(client, _required(params, "grant_type"))
    if grant_type == AUTHORIZATION_CODE:
        issued = redeem_code(client, _required(params, "code"), params.get("redirect_uri"),
                             params.get("code_verifier"), ip=client_ip())
    else:
        issued = refresh(client, _required(params, "refresh_token"), params.get("scope"),
                         ip=client_ip())
    body = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        # The seeds' iPaaS reads it with expires_in to schedule the next refresh.
        "issued_at": issued.issued_at,
        "refresh_token": issued.refresh_token,
        "scope": issued.scope,
    }
    if "openid" in issued.scope.split():
        body["id_token"] = _id_token(issued, client)
    maybe_purge()
    return no_store(jsonify(body))


def _id_token(issued: IssuedTokens, client: OAuthClient) -> str:
    """The id_token of a token response (OIDC Core §3.1.3.3, §12.2). Only a request
    with ``openid`` reads the user, whose claims it carries."""
    user = db.session.get(User, issued.user_id, options=[joinedload(User.site)])
    # What ``id_token`` reads of the grant, without loading its row: when the user
    # authenticated. Never added to the session.
    grant = Grant(id=issued.grant_id, user_id=issued.user_id, auth_time=issued.auth_time)
    return oidc.id_token(grant, client, user, issued.nonce, issued.scope.split())


def _client_and_token(*, allow_public: bool) -> tuple[OAuthClient, str]:
    """The authenticated client and the ``token`` parameter of a revocation or
    introspection request (RFC 7009 §2.1, RFC 7662 §2.1)."""
    params = rfc6749.form_params()
    client = rfc6749.authenticate(params, allow_public=allow_public)
    return client, _required(params, "token")


@bp.post("/revoke")
@limiter.limit(limit_from("TOKEN_RATE_LIMIT"))
def revoke():
    # RFC 7009 §2.1: a public client revokes its tokens by client_id alone.
    client, token_value = _client_and_token(allow_public=True)
    # RFC 7009 §2.2: 200 whether or not the token was valid; hints are only hints.
    revoke_token(client, token_value, ip=client_ip())
    # An empty JSON object rather than an empty body: §2.2 leaves the body open,
    # and clients (and the conformance suite) parse every answer here as JSON.
    return no_store(jsonify({}))


@bp.post("/introspect")
@limiter.limit(limit_from("TOKEN_RATE_LIMIT"))
def introspection():
    # RFC 7662 §2.1: the caller is a protected resource, which must authenticate; a
    # public client (a browser or a device) is none, so it is refused.
    client, token_value = _client_and_token(allow_public=False)
    return no_store(jsonify(introspect(client, token_value)))


@bp.route("/userinfo", methods=["GET", "POST"])
# RFC 6750: the header (§2.1) or a POST form body (§2.2), never the query (§2.3).
@require_token(scope="openid", schemes=(BEARER,), form_body=True)
def userinfo():
    principal = g.principal
    user = db.session.get(User, principal.user.id)
    return no_store(jsonify(oidc.user_claims(user, principal.scopes)))


@bp.get("/jwks")
def jwks_endpoint():
    response = jsonify(jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
