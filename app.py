"""Entry point for ``flask --app app ...`` and ``gunicorn app:app``."""

from col_auth import create_app

app = create_app()
