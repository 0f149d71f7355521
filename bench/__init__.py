"""Benchmarks of col_auth under gunicorn: ``python -m bench`` (``--smoke`` for a quick run).

B1/B2 compare ``GET /api/v1/me`` (Basic user token, Bearer access token) with a
bare Flask route served by the same gunicorn settings; B3 counts authorization
code exchanges and refreshes per second at the token endpoint; B4 compares the
validation functions' p50 with many live tokens against few. Every figure is
measured in the same run, on SQLite and on PostgreSQL; see README "Benchmarks".
"""
