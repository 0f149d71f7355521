"""Deleting what has expired, in batches, so a huge table never loads into memory."""

from __future__ import annotations

from sqlalchemy import delete, select

from ..extensions import db
from .clock import now
from .models import AuthorizationCode, Token


def _delete_in_batches(model, condition, batch_size: int) -> int:
    total = 0
    while True:
        ids = list(db.session.scalars(select(model.id).where(condition).limit(batch_size)))
        if not ids:
            return total
        db.session.execute(delete(model).where(model.id.in_(ids)))
        db.session.commit()
        total += len(ids)


def purge_expired(batch_size: int = 1000) -> dict[str, int]:
    """Delete expired codes and tokens; returns how many rows of each kind went.

    An expired code can no longer be redeemed, so its row is no longer needed to
    detect a replay: a late replay is refused as an unknown code.
    """
    moment = now()
    codes = _delete_in_batches(AuthorizationCode, AuthorizationCode.expires_at < moment,
                               batch_size)
    tokens = _delete_in_batches(
        Token, Token.expires_at.is_not(None) & (Token.expires_at < moment), batch_size
    )
    return {"codes": codes, "tokens": tokens}
