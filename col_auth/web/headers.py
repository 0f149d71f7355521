"""Headers responses carry: the security headers of every response, and no-store
for those that carry secrets or errors."""

from __future__ import annotations

from flask import Response

# Pages cannot be framed (clickjacking on consent pages) and load nothing foreign.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def no_store(response: Response) -> Response:
    """Responses carrying secrets are never cached (RFC 6749 §5.1)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


SECURITY_HEADERS = (
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)


def security_headers(response: Response) -> Response:
    """``after_request``: each of ``SECURITY_HEADERS`` that the response does not set
    itself (the form_post page sets its own CSP). One pass over the headers, not
    one lookup per header: this runs on every response."""
    headers = response.headers
    present = {name.lower() for name in headers.keys()}  # noqa: SIM118 - not a dict
    headers.extend([(name, value) for name, value in SECURITY_HEADERS
                    if name.lower() not in present])
    return response
