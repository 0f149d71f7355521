"""The OAuth2 consent form: CSRF token and the two buttons; the request's own
parameters travel as hidden inputs and are checked again on POST."""

from flask_wtf import FlaskForm
from wtforms import SubmitField


class OAuthConsentForm(FlaskForm):
    allow = SubmitField("Allow")
    cancel = SubmitField("Cancel")
