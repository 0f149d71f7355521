"""gunicorn's access log with every value from a request escaped (issue 9, finding 7).

gunicorn writes ``%(U)s`` (the path, percent-decoded), headers and the rest as they
came: ``GET /healthz%0a10.9.9.9%20...`` wrote a second, forged line, and a C1
character such as U+009B (CSI) is a terminal escape for whoever ``tail``s the log.
``SafeAccessLogger`` escapes control characters in every atom, so a request is one
line whatever it carries; a line without them (and without a backslash) is
written byte for byte as before.

Named in gunicorn.conf.py (``logger_class``); gunicorn loads it in the master, so it
imports nothing of the app. A ``logger_class`` of one's own also means gunicorn no
longer switches to its statsd logger by itself when ``statsd_host`` is set.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger, SafeAtoms

# C0 controls (CR and LF among them), DEL and C1 controls (U+0080-U+009F: WSGI
# strings are Latin-1, so the raw bytes 0x80-0x9f of a header arrive as these), and
# the backslash, so that an escape in the log can only have been written by us.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def _escape_character(match: re.Match[str]) -> str:
    character = match.group()
    return "\\\\" if character == "\\" else f"\\x{ord(character):02x}"


def escape_controls(value: str) -> str:
    r"""``value`` with control characters as ``\xNN`` and ``\`` as ``\\``."""
    return _UNSAFE.sub(_escape_character, value)


class EscapedAtoms(SafeAtoms):
    """gunicorn's atoms (case-insensitive, ``-`` when missing, ``"`` as ``\\"``),
    with control characters escaped first, in every string atom."""

    def __init__(self, atoms: dict[str, Any]) -> None:
        super().__init__({key: escape_controls(value) if isinstance(value, str) else value
                          for key, value in atoms.items()})


class SafeAccessLogger(Logger):
    """gunicorn's ``Logger`` whose access log escapes what requests carry."""

    atoms_wrapper_class = EscapedAtoms
