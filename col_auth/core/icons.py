"""Icons people upload (legacy apps, modules, external apps): small images only,
their type read from their first bytes rather than trusted from the upload."""

from __future__ import annotations

from flask import current_app

from .errors import ValidationError

_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


def sniff_icon(data: bytes) -> str:
    """The icon's MIME type from its first bytes; PNG, JPEG and GIF only, at most
    ``ICON_MAX_BYTES``."""
    limit = current_app.config["ICON_MAX_BYTES"]
    if len(data) > limit:
        raise ValidationError("icon_too_large", f"the icon must be at most {limit // 1024} KiB")
    for signature, mimetype in _SIGNATURES.items():
        if data.startswith(signature):
            return mimetype
    raise ValidationError("invalid_icon", "the icon must be a PNG, JPEG or GIF image")
