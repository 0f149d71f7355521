"""The sign-in and password forms (CSRF token included, Flask-WTF)."""

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from ..core.accounts import MAX_PASSWORD_LENGTH, MAX_USERNAME_LENGTH


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[
        DataRequired(), Length(max=MAX_USERNAME_LENGTH)])
    password = PasswordField("Password", validators=[
        DataRequired(), Length(max=MAX_PASSWORD_LENGTH)])
    submit = SubmitField("Log in")


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[
        DataRequired(), Length(max=MAX_PASSWORD_LENGTH)])
    new_password = PasswordField("New password", validators=[
        DataRequired(), Length(min=8, max=MAX_PASSWORD_LENGTH)])
    confirm_password = PasswordField("New password again", validators=[
        DataRequired(), EqualTo("new_password", message="The two new passwords differ.")])
    submit = SubmitField("Change password")
