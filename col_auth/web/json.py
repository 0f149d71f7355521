"""How the app reads JSON: Flask's provider, with nesting too deep to parse refused.

Python's parser recurses once per ``[`` or ``{``: a body of 100,000 of them raises
``RecursionError``, which is no ``ValueError``, so Flask's ``get_json`` let it out
as a 500. Here it is an ``InvalidRequest`` (400 ``invalid_request``) instead, for
every JSON body the app parses: silent or not, ``get_json`` does not swallow it, and
each blueprint answers it in its own form. How deep is too deep is the interpreter's
recursion limit (about 1,000 levels less the stack in use); no document of this
service comes near it.
"""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider

from ..core.errors import InvalidRequest

TOO_DEEP = "The JSON body is nested too deeply."


class JSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise InvalidRequest(TOO_DEEP) from None
