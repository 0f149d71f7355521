"""Form bodies past ``MAX_FORM_MEMORY_SIZE`` are refused (413) before anything reads them.

werkzeug bounds the fields of a multipart body by that setting, but parses an
url-encoded body whole up to ``MAX_CONTENT_LENGTH``. Registered before the rate
limiter, whose key functions read the form: an oversize sign-in is refused before
it is counted, and no key is ever built from it.
"""

from __future__ import annotations

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge


def refuse_oversize_form() -> None:
    length = request.content_length
    if not length:  # no body (every GET): nothing to parse the type of
        return
    limit = current_app.config.get("MAX_FORM_MEMORY_SIZE")
    if (limit is not None and length > limit
            and request.mimetype == "application/x-www-form-urlencoded"):
        raise RequestEntityTooLarge(f"A form may carry at most {limit} bytes.")
