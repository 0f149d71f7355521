"""What the forms of every face share (each carries a CSRF token, Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from wtforms import SubmitField
from wtforms.validators import ValidationError

from ..core.text import is_storable


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
