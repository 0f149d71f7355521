"""Bringing the database schema up to date with the Alembic migrations."""

from __future__ import annotations

from flask import Flask
from flask_migrate import upgrade


def upgrade_database(app: Flask) -> None:
    """Create the database if missing and apply every migration (idempotent)."""
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
