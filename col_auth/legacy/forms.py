"""Forms of the developer portal and the consent page (CSRF on each, Flask-WTF)."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from ..core.models import LegacyApp


class AppForm(FlaskForm):
    # At most what the columns hold (core.legacy_apps checks the same again).
    name = StringField("Application Name",
                       validators=[DataRequired(), Length(max=LegacyApp.name.type.length)])
    return_url = StringField("Return URL", validators=[
        DataRequired(), Length(max=LegacyApp.return_url.type.length)])
    privacy_url = StringField("Privacy URL", validators=[
        Optional(), Length(max=LegacyApp.privacy_url.type.length)])
    icon = FileField("Icon")
    remove_icon = BooleanField("Remove the icon")
    submit = SubmitField("Insert")


class ConsentForm(FlaskForm):
    apptoken = HiddenField()
    type = HiddenField()
    allow = SubmitField("Allow")
    cancel = SubmitField("Cancel")
