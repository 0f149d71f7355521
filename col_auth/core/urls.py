"""The checks every URL a person registers must pass (Return URLs, redirect URIs),
and that a stored URL must still pass before anyone is sent to it."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from .errors import ValidationError
from .text import is_storable

MAX_URL_LENGTH = 2000


def split_absolute_url(url: str, field: str, code: str) -> SplitResult:
    """The parts of an absolute http(s) URL with an ASCII host, no user info, no
    spaces or backslashes; else ValidationError with ``code``.

    User info ("https://good.example@evil.example/") is refused because a person
    reading it sees the wrong host; backslashes because browsers read them as "/".
    """
    if not url or len(url) > MAX_URL_LENGTH:
        raise ValidationError(code,
                              f"{field} is required ({MAX_URL_LENGTH} characters at most)")
    # A host of other characters can imitate another: "good.example。evil.com"
    # (U+3002) reads as good.example's, but browsers (and the IDNA encoding of a
    # Location header) make the dot a "." and go to evil.com; Cyrillic "о" looks
    # like "o". Only ASCII is accepted, an international name in its xn-- form,
    # which shows what it is.
    not_ascii = ValidationError(code, f"{field} must name its host in ASCII: write an "
                                "international domain name in its xn-- (Punycode) form")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        # urlsplit refuses some hosts that are not ASCII ("a／b.example") itself.
        raise (ValidationError(code, f"{field} is not a valid URL") if url.isascii()
               else not_ascii) from exc
    if not parts.netloc.isascii():
        raise not_ascii
    try:
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
