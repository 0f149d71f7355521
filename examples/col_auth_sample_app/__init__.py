"""The sample third-party app of the demo (``col-auth demo`` serves it on port 5001),
installed with col_auth as ``col_auth_sample_app``."""

from .app import create_sample_app

__all__ = ["create_sample_app"]
