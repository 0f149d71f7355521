"""/api/v1: who am I, the site's users, the site's items; and the OpenAPI document."""

from __future__ import annotations

from flask import g, jsonify, request

from ..core import items
from ..core.accounts import site_users
from ..core.errors import ValidationError
from ..core.grants import AUTH_SITE_TOKEN, Account
from ..core.models import Item, User
from ..extensions import db
from ..web import json_error
from . import bp
from .authn import token_required
from .openapi import openapi_document


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
@token_required
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
@token_required
def site_users_view():
    principal = g.principal
    if principal.auth != AUTH_SITE_TOKEN and not principal.user.is_site_admin:
        return json_error(403, "site_admin_required",
                          "Only site administrators or a site token may list the site's users.")
    return jsonify(users=[_user_json(u) for u in site_users(principal.user.site_id)])


@bp.get("/api/v1/items")
@token_required
def list_items():
    return jsonify(items=[_item_json(i) for i in items.items_of(g.principal.user.site)])


@bp.post("/api/v1/items")
@token_required
def create_item():
    data = request.get_json(force=True, silent=True)
    if data is None:
        return json_error(400, "invalid_json", "The body must be a JSON object.")
    try:
        # The item's creator is a relationship: it needs the ORM user, not the Account.
        item = items.create_item(db.session.get(User, g.principal.user.id), data)
    except ValidationError as exc:
        db.session.rollback()
        return json_error(400, exc.code, exc.message)
    return jsonify(_item_json(item)), 201


@bp.get("/api/openapi.json")
def openapi():
    return jsonify(openapi_document())
