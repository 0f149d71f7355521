"""The OAuth2/OIDC face (ELMA365/BRIX style): /api/o/oauth/v2/* and discovery."""

from flask import Blueprint

bp = Blueprint("oauth", __name__)

from . import authorize, discovery, endpoints  # noqa: E402,F401
