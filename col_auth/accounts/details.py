"""/profile/details: the optional details a user may give about themselves, released
to apps as OpenID claims (OIDC Core §5.1, §5.4: ``given_name``/``family_name`` with
the ``profile`` scope, ``phone_number`` with ``phone``, ``address`` with ``address``).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import Length

from ..core import accounts
from ..core.errors import CoreError
from ..core.models import User
from ..web import form_status, show_on_form
from ..web.forms import storable
from . import bp


class DetailsForm(FlaskForm):
    # At most what the columns hold; core.accounts.update_details checks it again.
    given_name = StringField("Given name", validators=[
        Length(max=User.given_name.type.length), storable()])
    family_name = StringField("Family name", validators=[
        Length(max=User.family_name.type.length), storable()])
    phone_number = StringField("Phone number", validators=[
        Length(max=User.phone_number.type.length), storable()])
    # A textarea sends "\r\n" between lines: two characters the core makes one.
    address = TextAreaField("Postal address", validators=[
        Length(max=2 * accounts.MAX_ADDRESS_LENGTH), storable(multiline=True)])
    submit = SubmitField("Save")


@bp.route("/profile/details", methods=["GET", "POST"])
@login_required
def profile_details():
    """Optional: an app sees a detail only with the user's consent to its scope."""
    user = current_user._get_current_object()
    form = DetailsForm(obj=user)
    if form.validate_on_submit():
        try:
            changed = accounts.update_details(
                user,
                given_name=form.given_name.data or "",
                family_name=form.family_name.data or "",
                phone_number=form.phone_number.data or "",
                address=form.address.data or "",
            )
        except CoreError as exc:
            show_on_form(form, exc)
        else:
            flash("Details saved." if changed else "Nothing changed.")
            return redirect(url_for("accounts.profile"))
    page = render_template("accounts/details.html", form=form)
    return page, form_status(form)
