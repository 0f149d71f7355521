"""The one source of "now" for the core, so tests can move time instead of sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import current_app, has_app_context

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Naive UTC, the form every timestamp is stored in (SQLite keeps no zone)."""
    return datetime.now(UTC).replace(tzinfo=None)


def now() -> datetime:
    """The app's clock (setting ``CLOCK``), or the system clock outside an app."""
    if has_app_context():
        clock = current_app.config.get("CLOCK")
        if clock is not None:
            return clock()
    return system_clock()


def to_epoch(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp())
