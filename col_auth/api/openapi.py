"""The OpenAPI 3.1 description of /api/v1 (served at /api/openapi.json)."""

from __future__ import annotations

from typing import Any

from flask import current_app

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
_USER = {
    "type": "object",
    "properties": {
        "userid": {"type": "string", "format": "uuid"},
        "username": {"type": "string"},
        "full_name": {"type": "string"},
        "email": {"type": "string"},
        "siteid": {"type": "string", "format": "uuid"},
        "site": {"type": "string"},
        "role": {"type": "string", "enum": ["member", "site_admin"]},
    },
}
_ME = {
    "type": "object",
    "properties": {
        **{k: v for k, v in _USER["properties"].items() if k != "role"},
        "auth": {"type": "string", "enum": ["user_token", "site_token", "oauth"]},
    },
}
_ITEM = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "body": {"type": "string"},
        "created_by": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
_NEW_ITEM = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title"],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "body": {"type": "string", "maxLength": 10000},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_UNAUTHORIZED = _json({"$ref": "#/components/schemas/Error"}, "Missing, malformed or invalid token")


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "col_auth Web API", "version": "1"},
        "servers": [{"url": current_app.config["ISSUER"]}],
        "security": [{"basicToken": []}, {"bearerToken": []}],
        "components": {
            "securitySchemes": {
                "basicToken": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "base64(username:token), the token with its {UserToken} "
                    "or {SiteToken} prefix",
                },
                "bearerToken": {"type": "http", "scheme": "bearer",
                                "description": "OAuth2 access token with scope api"},
            },
            "schemas": {"Error": _ERROR, "User": _USER, "Me": _ME, "Item": _ITEM,
                        "NewItem": _NEW_ITEM},
        },
        "paths": {
            "/api/v1/me": {
                "get": {
                    "summary": "The user the request runs as",
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Me"}, "The user"),
                        "401": _UNAUTHORIZED,
                        "403": _json({"$ref": "#/components/schemas/Error"}, "Insufficient scope"),
                    },
                }
            },
            "/api/v1/site/users": {
                "get": {
                    "summary": "The site's active users (site administrators or a site token)",
                    "responses": {
                        "200": _json({"type": "object", "properties": {"users": {
                            "type": "array", "items": {"$ref": "#/components/schemas/User"}}}},
                            "The users"),
                        "401": _UNAUTHORIZED,
                        "403": _json({"$ref": "#/components/schemas/Error"}, "Not allowed"),
                    },
                }
            },
            "/api/v1/items": {
                "get": {
                    "summary": "The site's items",
                    "responses": {
                        "200": _json({"type": "object", "properties": {"items": {
                            "type": "array", "items": {"$ref": "#/components/schemas/Item"}}}},
                            "The items"),
                        "401": _UNAUTHORIZED,
                    },
                },
                "post": {
                    "summary": "Create an item as the caller",
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/NewItem"}}}},
                    "responses": {
                        "201": _json({"$ref": "#/components/schemas/Item"}, "Created"),
                        "400": _json({"$ref": "#/components/schemas/Error"},
                                     "Bad JSON or fields; nothing stored"),
                        "401": _UNAUTHORIZED,
                    },
                },
            },
        },
    }
