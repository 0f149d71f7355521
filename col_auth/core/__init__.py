"""The grant store: sites, users, apps, grants and tokens. Knows nothing of HTTP."""
