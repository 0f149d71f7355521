"""The benchmarks run: ``python -m bench --smoke`` in a subprocess prints every ratio.

Only that it runs and prints them; no figure is asserted (timings depend on the
machine and on what else runs on it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import _PG_PROBLEM, PG_URL, REQUIRE_PG

ROOT = Path(__file__).resolve().parent.parent
RATIO_LINES = (
    r"B1 {db}\s+Basic\s+GET /api/v1/me ÷ bare Flask route: ratio \d+\.\d+",
    r"B2 {db}\s+Bearer GET /api/v1/me ÷ bare Flask route: ratio \d+\.\d+",
    r"B3 {db}\s+code exchanges/s ÷ bare Flask route: ratio \d+\.\d+",
    r"B3 {db}\s+refreshes/s\s+÷ bare Flask route: ratio \d+\.\d+",
    r"B4 {db}\s+Basic\s+validation p50, 10\^4 ÷ 10\^3 live tokens: ratio \d+\.\d+",
    r"B4 {db}\s+Bearer validation p50, 10\^4 ÷ 10\^3 live tokens: ratio \d+\.\d+",
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
    assert re.search(r"^software: Python \d", out, re.M), out
    for db in databases:
        for pattern in RATIO_LINES:
            assert re.search("^" + pattern.format(db=db), out, re.M), (pattern, out)
