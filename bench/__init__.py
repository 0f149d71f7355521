"""Benchmarks of col_auth under gunicorn: ``python -m bench`` (``--smoke`` for a quick run),
and a profiler of one worker: ``python -m bench.profile``.

``python -m bench`` (``bench.runner``): B0-B2 compare ``GET /healthz`` and ``GET
/api/v1/me`` (Basic user token, Bearer access token) with a bare Flask route
(``bench.bare_app``) served by the same gunicorn settings, and B2 also with the
same request to an Authlib reference server (``bench.authlib_reference``: an
OAuth2 server written the way Authlib's docs show, on the same database); B3
counts authorization code exchanges and refreshes per second at the token
endpoint, against the Authlib reference's; B4 compares token validation's p50
with many live tokens against few. The apps are measured in interleaved rounds;
every figure comes from the same run, on SQLite and on PostgreSQL (with Redis);
see README "Benchmarks".

``python -m bench.profile [--database postgresql] [--seconds 10] [--routes
healthz,basic,bearer,exchange,refresh,bare] [--markdown] [--summary] [--cpu]
[--out DIR]`` (``bench.profile``, ``bench.stacks``): serves the service (and the
bare route) with ONE gunicorn worker, loads each route in turn and samples the
worker with ``py-spy record --format raw --rate 1000 --nonblocking --idle``,
then prints where a request's time goes, in µs per request (share of the
worker's samples x wall time / requests served): gunicorn outside the app (HTTP
parsing, writing the answer, closing the connection, the access log), Flask's
dispatch, each ``before_request`` / ``after_request`` / teardown function of the
app by name, the view (token validation, what the view calls); and by library
(the DB driver, SQLAlchemy's compilation / ORM / engine, JSON, hashing, logging,
prometheus_client, Redis, ...), self and inclusive. It needs py-spy (``pip
install -e '.[bench]'``; exit status 2 without it) and ptrace rights (root, or
CAP_SYS_PTRACE).
"""
