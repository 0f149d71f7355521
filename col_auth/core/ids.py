"""GUIDs and the prefixed strings of the Connections Online protocol."""

from __future__ import annotations

import re
import uuid

_GUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")

APP_TOKEN_PREFIX = "{AppToken}"
SECRET_KEY_PREFIX = "{SecretKey}"
USER_TOKEN_PREFIX = "{UserToken}"
SITE_TOKEN_PREFIX = "{SiteToken}"


def new_guid() -> str:
    """A random GUID in the upper-case form Connections Online prints."""
    return str(uuid.uuid4()).upper()


def parse_guid(text: str | None) -> str | None:
    """The canonical upper-case GUID, or None if ``text`` is not exactly one."""
    if not text or not _GUID.fullmatch(text):
        return None
    return text.upper()


def strip_prefix(text: str, prefix: str) -> str:
    """``text`` without ``prefix`` (compared case-insensitively), else unchanged."""
    if text[: len(prefix)].lower() == prefix.lower():
        return text[len(prefix) :]
    return text
