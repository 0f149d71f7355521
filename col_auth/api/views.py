"""/api/v1: who am I, the site's users, the site's items; and the OpenAPI document."""

from __future__ import annotations

from flask import g, jsonify, request

from ..core import items
from ..core.accounts import site_users
from ..core.errors import PermissionDenied, ValidationError
from ..core.models import Item, User
from ..core.principals import AUTH_SITE_TOKEN, Account
from ..extensions import db
from ..http_auth import require_token
from . import bp
from .openapi import openapi_document

# The scope an OAuth2 access token needs for /api/v1 (contract §4).
API_SCOPE = "api"


def _user_json(user: User | Account) -> dict:
    return {
        "userid": user.id,
        "username": user.username,
        "full_name": user.full_name,
        "email": user.email,
        "siteid": user.site_id,
        "site": user.site.name,
        "role": user.role,
    }


def _item_json(item: Item) -> dict:
    return {
        "id": item.id,
        "title": item.title,
        "body": item.body,
        "created_by": item.created_by.username,
        "created_at": item.created_at.isoformat() + "Z",
    }


@bp.get("/api/v1/me")
@require_token(scope=API_SCOPE)
def me():
    """Exactly the fields of contract §4: the user (without ``role``) and ``auth``.

    Everything comes from the validation query (``g.principal.user`` is an
    ``Account``, site name included): no further query.
    """
    principal = g.principal
    body = _user_json(principal.user)
    del body["role"]
    body["auth"] = principal.auth
    return jsonify(body)


@bp.get("/api/v1/site/users")
@require_token(scope=API_SCOPE)
def site_users_view():
    principal = g.principal
    if principal.auth != AUTH_SITE_TOKEN and not principal.user.is_site_admin:
        raise PermissionDenied(
            "site_admin_required",
            "Only site administrators or a site token may list the site's users.")
    return jsonify(users=[_user_json(u) for u in site_users(principal.user.site_id)])


@bp.get("/api/v1/items")
@require_token(scope=API_SCOPE)
def list_items():
    return jsonify(items=[_item_json(i) for i in items.items_of(g.principal.user.site)])


@bp.post("/api/v1/items")
@require_token(scope=API_SCOPE)
def create_item():
    data = request.get_json(force=True, silent=True)
    if data is None:
        raise ValidationError("invalid_json", "The body must be a JSON object.")
    # The item's creator is a relationship: it needs the ORM user, not the Account.
    item = items.create_item(db.session.get(User, g.principal.user.id), data)
    return jsonify(_item_json(item)), 201


@bp.get("/api/openapi.json")
def openapi():
    return jsonify(openapi_document())
