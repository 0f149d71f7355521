"""The benchmarks run: ``python -m bench --smoke`` in a subprocess prints every ratio.

Only that it runs, the Authlib reference included, and prints every line with its
figures and, where there is a target, its verdict; no figure is asserted (timings
depend on the machine and on what else runs on it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import _PG_PROBLEM, PG_URL, REQUIRE_PG

ROOT = Path(__file__).resolve().parent.parent
# Every ratio line, with its figures; "target ...: met/MISSED" where there is a target.
_RATIO = r"ratio \d+\.\d+  \(\d+ / \d+ (req/s|µs)\)"
_VERDICT = r"  target (>=|<=) \d+(\.\d+)?: (met|MISSED)$"
RATIO_LINES = (
    r"B0 {db}\s+GET /healthz \(no token, no query\) ÷ bare Flask route: " + _RATIO + _VERDICT,
    r"B1 {db}\s+Basic\s+GET /api/v1/me ÷ bare Flask route: " + _RATIO + _VERDICT,
    r"B2 {db}\s+Bearer GET /api/v1/me ÷ bare Flask route: " + _RATIO + _VERDICT,
    r"B2 {db}\s+Bearer GET /api/v1/me ÷ Authlib reference: " + _RATIO + "$",
    r"B3 {db}\s+code exchanges/s ÷ Authlib reference: " + _RATIO + _VERDICT,
    r"B3 {db}\s+refreshes/s\s+÷ Authlib reference: " + _RATIO + _VERDICT,
    r"B3 {db}\s+code exchanges/s ÷ bare Flask route: " + _RATIO + "$",
    r"B3 {db}\s+refreshes/s\s+÷ bare Flask route: " + _RATIO + "$",
    r"B4 {db}\s+Basic\s+validation p50, 10\^4 ÷ 10\^3 live tokens: " + _RATIO + _VERDICT,
    r"B4 {db}\s+Bearer validation p50, 10\^4 ÷ 10\^3 live tokens: " + _RATIO + _VERDICT,
    r"\s+{db}\s+req/s of each round: bare \d+/\d+; .*Authlib me \d+/\d+; "
    r".*Authlib exchanges \d+/\d+; .*Authlib refreshes \d+/\d+$",
)


def test_smoke_run_prints_every_ratio():
    databases = ["sqlite"]
    if not _PG_PROBLEM or REQUIRE_PG:
        databases.append("postgresql")
    env = dict(os.environ, COL_AUTH_BENCH_SMOKE="1")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--databases", ",".join(databases),
         "--postgres-url", PG_URL],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    out = done.stdout
    assert "smoke mode" in out
    assert re.search(r"^machine: \d+ cores, ", out, re.M), out
    assert re.search(r"^software: Python \d.*; Authlib \d", out, re.M), out
    # PostgreSQL gets the bench's Redis (as a multi-host deployment has), SQLite none.
    assert re.search(r"^Redis: sqlite none", out, re.M), out
    if "postgresql" in databases:
        assert re.search(r"^Redis: .*postgresql redis://", out, re.M), out
    assert "FAILED" not in out, out
    for db in databases:
        for pattern in RATIO_LINES:
            assert re.search("^" + pattern.format(db=db), out, re.M), (pattern, out)


def _frame(func) -> str:
    """A frame of ``func`` as py-spy's raw format writes it."""
    code = func.__code__
    return f"{code.co_qualname} ({code.co_filename}:{code.co_firstlineno})"


def test_profile_sorts_samples_into_parts_and_libraries():
    """``python -m bench.profile``'s accounting, on py-spy raw lines made up here: each
    sample goes to the part of the request whose frame is on its stack (read from the
    app's hooks and view) and to the library of its innermost frame."""
    import functools

    from flask import Flask

    from bench import stacks

    app = Flask("profiled")

    def guard():
        return None

    def wrap(view):
        @functools.wraps(view)
        def checked():
            return view()
        return checked

    @app.get("/me")
    @wrap
    def me():
        return "me"

    app.before_request(guard)
    anatomy = stacks.anatomy(app, "GET", "/me")
    gunicorn = "/venv/site-packages/gunicorn"
    flask_app = "/venv/site-packages/flask/app.py"
    worker = f"SyncWorker.run ({gunicorn}/workers/sync.py:1)"
    entry = (f"{worker};SyncWorker.handle_request ({gunicorn}/workers/sync.py:2);"
             f"Flask.__call__ ({flask_app}:3);Flask.wsgi_app ({flask_app}:4)")
    view = f"{entry};Flask.dispatch_request ({flask_app}:5);{_frame(app.view_functions['me'])}"
    validation = f"authenticate ({stacks.ROOT}/col_auth/http_auth.py:6)"
    execute = "DefaultDialect.do_execute (/venv/site-packages/sqlalchemy/engine/default.py:7)"
    raw = "\n".join([
        f"{worker};SyncWorker.wait ({gunicorn}/workers/sync.py:8) 10",
        f"{worker};write ({gunicorn}/util.py:9) 20",
        f"{entry};{_frame(guard)} 5",
        f"{view};{validation};{execute} 15",
        f"{view};{_frame(me.__wrapped__)};jsonify (/venv/site-packages/flask/json/__init__.py:10)"
        " 5",
        f"{entry};Flask.full_dispatch_request ({flask_app}:11) 5",
        "Thread._bootstrap (/usr/lib/python3.11/threading.py:12) 7",
    ])
    profile = stacks.profile("me", "GET /me", raw, anatomy, rate=1000.0, cpu_us=500.0)
    counts = profile.counts
    assert (profile.samples, profile.other_threads) == (60, 7)
    assert counts["idle"] == 10 and counts["busy"] == 50
    assert counts["gunicorn"] == 20 and counts["gunicorn:respond"] == 20
    assert counts["app"] == 30 and counts["dispatch"] == 5
    assert counts["hooks"] == counts["hook:before_request guard (tests.test_bench_smoke)"] == 5
    assert (counts["view"], counts["view:token"], counts["view:function"]) == (20, 15, 5)
    # What the view calls, from its innermost function on the stack.
    assert profile.callees == {"col_auth.http_auth.authenticate": 15, "flask.json.jsonify": 5}
    driver = stacks.LIBRARIES[0][0]
    assert counts[f"self:{driver}"] == 15 and counts[f"incl:{stacks.SQLALCHEMY_ALL}"] == 15
    assert counts["self:JSON (json, flask.json)"] == 5
    # µs per request: share of the samples x 10^6 / requests per second.
    assert round(profile.us(counts["busy"])) == 833
    tables = stacks.summary_tables([profile]) + stacks.route_tables(profile)
    text = "\n".join(stacks.render(table, markdown=True) for table in tables)
    assert "| · · · before_request guard (tests.test_bench_smoke) | 83 |" in text, text


def test_profile_without_py_spy_says_so(monkeypatch, capsys):
    from bench import profile

    monkeypatch.setattr(profile, "py_spy_path", lambda: None)
    assert profile.main(["--routes", "healthz"]) == 2
    assert "needs py-spy" in capsys.readouterr().err
