"""The request boundary: text the database cannot store never reaches a view.

PostgreSQL refuses NUL in any text, even only to compare it with a column (a
``psycopg.DataError``, so a 500), and no column should hold the other control
characters. Rather than each lookup guarding its own input, one guard refuses
them where they enter, with the definition of ``core.text.is_storable``:

- the path (and so every ``view_args`` value), query parameter names and values,
  and header values, before any view runs: none of them may hold a control
  character, TAB, CR and LF included;
- form fields, when the form is parsed (by the view, or by the CSRF check before
  it): names as above, values may hold TAB, CR and LF (a textarea's lines). A body
  the view does not read as a form is not parsed here: reading it would consume
  it. Uploaded files are the view's, and JSON bodies are checked by the views'
  own validators.

A refusal is an ``InvalidRequest`` (400 ``invalid_request``), which each blueprint
answers in its own form: JSON for the API and protocol endpoints, a page for pages.
It is never sent back to a client's redirect URI: it is raised before anything
about the client has been checked.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, request
from flask import Request as FlaskRequest
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

from ..core.errors import InvalidRequest
from ..core.text import is_storable

REFUSED = ("The {what} contains a control character (such as NUL or a line break) "
           "that is not accepted.")


def _check(value: str, what: str, multiline: bool = False) -> None:
    if not is_storable(value, multiline):
        raise InvalidRequest(REFUSED.format(what=what))


def _check_pairs(pairs: Iterable[tuple[str, str]], what: str, multiline_values: bool) -> None:
    for name, value in pairs:
        _check(name, f"name of a {what}")
        _check(value, what, multiline_values)


# Request headers that WSGI passes without the HTTP_ prefix (PEP 3333).
_CGI_HEADERS = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})


def header_text(value: str) -> str:
    """A header value as text. WSGI passes header bytes as latin-1 (PEP 3333): read
    as such, the bytes of UTF-8 text ("—" is E2 80 94) would look like C1 controls
    (U+0080–U+009F), so the bytes are read as UTF-8, as the app reads them."""
    return value.encode("latin-1", "replace").decode("utf-8", "replace")


def check_request() -> None:
    """``before_request``: the path, the query and the headers.

    Runs on every request, so it reads the WSGI environ as it is: the header values
    are its ``HTTP_*`` entries (and the two CGI ones), each checked by two string
    methods in C; only one that fails them is decoded and checked closely."""
    _check(request.path, "URL path")
    if request.query_string:
        _check_pairs(request.args.items(multi=True), "query parameter",
                     multiline_values=False)
    for key, value in request.environ.items():
        if (key.startswith("HTTP_") or key in _CGI_HEADERS) and not (
                value.isascii() and value.isprintable()):  # nearly every value is
            _check(header_text(value),
                   f"{key.removeprefix('HTTP_').replace('_', '-').title()} header")


def check_form(form: MultiDict[str, str]) -> None:
    _check_pairs(form.items(multi=True), "form field", multiline_values=True)


class Request(FlaskRequest):
    """Flask's request, whose form is checked (``check_form``) when it is parsed."""

    def _load_form_data(self) -> None:
        parsed_before = "form" in self.__dict__
        super()._load_form_data()
        if parsed_before:
            return
        try:
            check_form(self.form)
        except InvalidRequest:
            # Nothing after the refusal (an error handler, an audit record) reads
            # the refused values.
            self.__dict__["form"] = ImmutableMultiDict()
            raise


def init_app(flask_app: Flask) -> None:
    flask_app.request_class = Request
    flask_app.before_request(check_request)
