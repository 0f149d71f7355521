"""Sign-in, the profile's "External Apps" tab and the site administrators' pages."""

from flask import Blueprint

from ..web import errors

bp = Blueprint("accounts", __name__)
errors.answer_with(bp, errors.page_response)

from . import details, views  # noqa: E402,F401
