"""Reading the parameters of a browser-sent OAuth2/OIDC request (authorization,
RP-Initiated Logout): each known one once, no longer than its limit. Unknown
parameters are ignored (RFC 6749 §3.1); a repeated known one is an error the
endpoint reports in its own way (§3.1: "MUST NOT be included more than once")."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from werkzeug.datastructures import MultiDict

MAX_PARAM_LENGTH = 2000
# An id_token with every claim is ~1.5 KB; 8 KB leaves room for larger keys.
MAX_ID_TOKEN_HINT_LENGTH = 8000


def collect(source: MultiDict, names: Collection[str]) -> tuple[dict[str, str], set[str]]:
    """The first value of each parameter in ``names``, and the names that were repeated."""
    params: dict[str, str] = {}
    repeated: set[str] = set()
    for name, values in source.lists():
        if name in names:
            params[name] = values[0]
            if len(values) > 1:
                repeated.add(name)
    return params, repeated


def too_long(params: Mapping[str, str], limits: Mapping[str, int]) -> str | None:
    """The first parameter longer than its limit, as a message, else None."""
    for name, value in params.items():
        if len(value) > limits[name]:
            return f"Parameter too long: {name} ({limits[name]} characters at most)."
    return None
