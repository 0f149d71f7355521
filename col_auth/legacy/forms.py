"""Forms of the developer portal and the consent page (CSRF on each, Flask-WTF)."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional


class AppForm(FlaskForm):
    name = StringField("Application Name", validators=[DataRequired(), Length(max=200)])
    return_url = StringField("Return URL", validators=[DataRequired(), Length(max=2000)])
    privacy_url = StringField("Privacy URL", validators=[Optional(), Length(max=2000)])
    icon = FileField("Icon")
    remove_icon = BooleanField("Remove the icon")
    submit = SubmitField("Insert")


class ConsentForm(FlaskForm):
    apptoken = HiddenField()
    type = HiddenField()
    allow = SubmitField("Allow")
    cancel = SubmitField("Cancel")
