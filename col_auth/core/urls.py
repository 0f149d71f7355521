"""The checks every URL a person registers must pass (Return URLs, redirect URIs)."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from .errors import ValidationError
from .text import is_storable

MAX_URL_LENGTH = 2000


def split_absolute_url(url: str, field: str, code: str) -> SplitResult:
    """The parts of an absolute http(s) URL with a host, no user info, no spaces or
    backslashes; else ValidationError with ``code``.

    User info ("https://good.example@evil.example/") is refused because a person
    reading it sees the wrong host; backslashes because browsers read them as "/".
    """
    if not url or len(url) > MAX_URL_LENGTH:
        raise ValidationError(code,
                              f"{field} is required ({MAX_URL_LENGTH} characters at most)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValidationError(code, f"{field} is not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(code, f"{field} must be an absolute http or https URL")
    # A percent-encoded host ("https://evil%2Eexample/", "https://good%40evil.example/")
    # is decoded by browsers: another host than the one the URL seems to name.
    if ("@" in parts.netloc or "%" in parts.netloc or any(ch.isspace() for ch in url)
            or "\\" in url or not is_storable(url)):
        raise ValidationError(code, f"{field} must not contain user info, an encoded host, "
                              "or spaces")
    return parts
