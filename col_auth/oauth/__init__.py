"""The OAuth2/OIDC face (ELMA365/BRIX style): /api/o/oauth/v2/* and discovery.

Four blueprints, one per way of answering an error: the authorization endpoint
is a page (its errors are a page or, once the client's redirect URI is trusted,
a redirect back to the client); the logout endpoint is a page too (its refusals
are audited); the token, revocation, introspection, UserInfo and JWKS endpoints
answer JSON; so does discovery under /.well-known.
"""

from flask import Blueprint

from ..extensions import csrf
from ..web import errors

PREFIX = "/api/o/oauth/v2"

bp = Blueprint("oauth", __name__, url_prefix=PREFIX)
endpoints_bp = Blueprint("oauth_endpoints", __name__, url_prefix=PREFIX)
discovery_bp = Blueprint("discovery", __name__)
logout_bp = Blueprint("oauth_logout", __name__, url_prefix=PREFIX)
# Client-authenticated or token-authenticated, never by cookie: no CSRF to defend against.
csrf.exempt(endpoints_bp)
errors.answer_with(endpoints_bp, errors.json_response)
errors.answer_with(discovery_bp, errors.json_response)

from . import authorize, discovery, endpoints, logout  # noqa: E402,F401

BLUEPRINTS = (bp, endpoints_bp, discovery_bp, logout_bp)
