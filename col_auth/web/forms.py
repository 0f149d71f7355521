"""What the forms of every face share (each carries a CSRF token, Flask-WTF)."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from wtforms import SubmitField
from wtforms.validators import ValidationError

from ..core.text import is_storable
from ..extensions import csrf


def check_csrf() -> None:
    """``before_request``: Flask-WTF's own check (``CSRFProtect.protect``) of every
    POST, PUT, PATCH and DELETE, but views exempted with ``csrf.exempt``.

    It replaces Flask-WTF's default hook, which looks the view's exemption up on
    every request, GETs included, before it even looks at the method.
    """
    config = current_app.config
    if request.method in config["WTF_CSRF_METHODS"] and config["WTF_CSRF_ENABLED"]:
        csrf.protect(apply_exemptions=True)


def init_app(flask_app: Flask) -> None:
    csrf.init_app(flask_app)
    flask_app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # check_csrf instead
    flask_app.before_request(check_csrf)


class ButtonForm(FlaskForm):
    """A button that changes something (revoke, delete, regenerate): only its CSRF
    token matters; the page writes the button's own label."""

    submit = SubmitField("Confirm")


def require_submitted(form: FlaskForm) -> None:
    """Refuse a POST whose form does not validate.

    CSRF is checked app-wide before any view runs (``CSRFProtect``), so for a form
    that is only a button this is the second guard of the same rule, and it is
    answered as the same error (``web.errors``: ``csrf_failed``).
    """
    if not form.validate_on_submit():
        raise CSRFError()


def storable(multiline: bool = False):
    """A WTForms validator: text the database can store (``core.text.is_storable``),
    so a control character is a form error, not a database error."""

    def check(form, field) -> None:  # noqa: ARG001 - WTForms' signature
        if field.data and not is_storable(field.data, multiline):
            raise ValidationError("Control characters are not allowed.")

    return check
