"""The Web API's sample resource: a site's items."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..extensions import db
from .errors import ValidationError
from .models import Item, Site, User
from .text import check_text

TITLE_MAX = Item.title.type.length
BODY_MAX = 10_000
_FIELDS = {"title", "body"}


def validate_item(data: Any) -> tuple[str, str]:
    """``(title, body)`` from decoded JSON, or ValidationError naming the bad field."""
    if not isinstance(data, dict):
        raise ValidationError("invalid_json", "the body must be a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ValidationError("invalid_field", f"unknown field(s): {', '.join(unknown)}")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValidationError("invalid_field", "title must be a non-empty string")
    if len(title) > TITLE_MAX:
        raise ValidationError("invalid_field", f"title must be at most {TITLE_MAX} characters")
    body = data.get("body", "")
    if not isinstance(body, str):
        raise ValidationError("invalid_field", "body must be a string")
    if len(body) > BODY_MAX:
        raise ValidationError("invalid_field", f"body must be at most {BODY_MAX} characters")
    check_text(title, "title")
    check_text(body, "body", multiline=True)
    return title.strip(), body


def create_item(user: User, data: Any) -> Item:
    title, body = validate_item(data)
    item = Item(site_id=user.site_id, created_by=user, title=title, body=body)
    db.session.add(item)
    db.session.flush()
    return item


def items_of(site: Site) -> list[Item]:
    return list(db.session.scalars(select(Item).where(Item.site_id == site.id).order_by(Item.id)))
