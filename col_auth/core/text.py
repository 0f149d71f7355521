"""Text a person typed, checked before it is stored.

PostgreSQL cannot store NUL, and no database can store a lone surrogate as
UTF-8: either would be a 500 at commit time. Single-line fields (names) also
refuse every other control character.
"""

from __future__ import annotations

import unicodedata

from .errors import ValidationError


def is_storable(value: str, multiline: bool = False) -> bool:
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
