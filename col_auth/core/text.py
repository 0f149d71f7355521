"""Text a person typed, checked before it is stored.

PostgreSQL cannot store NUL, and no database can store a lone surrogate as
UTF-8: either would be a 500 at commit time. Single-line fields (names) also
refuse every other control character.
"""

from __future__ import annotations

import unicodedata

from .errors import ValidationError


def is_storable(value: str, multiline: bool = False) -> bool:
    # Nearly every value is printable ASCII, which is storable: C code decides that
    # (every request's path, query and headers pass here, ``web.boundary``).
    if value.isascii() and value.isprintable():
        return True
    allowed = "\n\r\t" if multiline else ""
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cs":  # a lone surrogate
            return False
        if category == "Cc" and ch not in allowed:
            return False
    return True


def check_text(value: str, field: str, *, code: str = "invalid_field",
               multiline: bool = False) -> str:
    if not is_storable(value, multiline):
        raise ValidationError(code, f"{field} contains characters that cannot be stored")
    return value


def check_length(value: str, field: str, length: int, *, code: str,
                 required: bool = False) -> str:
    """``value`` if it has at most ``length`` characters (its column's: give
    ``Model.column.type.length``), is not empty when ``required``, and is storable."""
    if (required and not value) or len(value) > length:
        raise ValidationError(code, f"{field} is required ({length} characters at most)"
                              if required else f"{field} has at most {length} characters")
    return check_text(value, field, code=code)
