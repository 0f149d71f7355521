"""Only the issuer's host, and ``TRUSTED_HOSTS``, are served (issue 9, finding 13).

werkzeug builds the URL of a redirect it makes itself (``/auth//`` → ``/auth/``)
from the request's Host header, so ``Host: evil.example`` would have this service
send people to evil.example. A request for any other host is refused with 400
before routing answers it. The list is read at each request, from the settings as
they are then (tests and the demo set the issuer once the port is known).
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import current_app, request

from ..core.errors import ValidationError

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@functools.lru_cache(maxsize=64)
def hostname_of(host: str) -> str | None:
    """The lower-case host name of a Host header value (port and brackets dropped),
    or None for one that is not a plain ASCII host."""
    if not host or not host.isascii() or any(ch in host for ch in "/?#@\\ "):
        return None
    try:
        return urlsplit("//" + host).hostname
    except ValueError:
        return None


@functools.lru_cache(maxsize=16)
def trusted_hosts(issuer: str, extra: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    """(exact names, ``.suffixes``) served for this issuer and the extra names.
    An issuer on loopback also answers to the other loopback names."""
    names = {hostname_of(urlsplit(issuer).netloc) or ""}
    if names & _LOOPBACK:
        names |= _LOOPBACK
    suffixes = []
    for item in extra:
        if item.startswith("."):
            suffixes.append(item)
        elif hostname := hostname_of(item):
            names.add(hostname)
    names.discard("")
    return frozenset(names), tuple(suffixes)


def is_trusted(host: str) -> bool:
    config = current_app.config
    return _trusted(config["ISSUER"], config["TRUSTED_HOST_NAMES"], host)


@functools.lru_cache(maxsize=256)
def _trusted(issuer: str, extra: tuple[str, ...], host: str) -> bool:
    names, suffixes = trusted_hosts(issuer, extra)
    hostname = hostname_of(host)
    return hostname is not None and (hostname in names or hostname.endswith(suffixes))


def refuse_untrusted_host() -> None:
    if not is_trusted(request.headers.get("Host", "")):
        # The Host sent is not repeated back: nothing of it is echoed.
        raise ValidationError("untrusted_host", "This service does not answer for that host.")
