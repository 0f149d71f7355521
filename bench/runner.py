"""``python -m bench``: every benchmark, on SQLite and on PostgreSQL, in one run.

For each database: a fresh database; B4 (validation p50 with few, then many live
tokens, in-process); then the service and the bare Flask app under gunicorn with
the same settings and worker count, loaded from another process (B1, B2, B3).
Ratios are taken between figures of the same run.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from . import load, machine, seed, validation
from .servers import Gunicorn

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SMOKE_ENV = "COL_AUTH_BENCH_SMOKE"
TARGETS = {"B1": (">=", 0.8), "B2": (">=", 0.8), "B4": ("<=", 1.2)}
# B4 alternates between its two databases this many times.
ROUNDS = 4


@dataclass(frozen=True)
class Sizes:
    """How long and how big each part runs."""

    name: str
    read_seconds: float  # each B1/B2 run (and each bare run)
    warm_seconds: float
    codes: int  # B3 code exchanges timed
    refresh_seconds: float  # B3 refresh chains, timed
    few_tokens: int  # B4
    many_tokens: int
    calls: int  # B4 validations per function and size


FULL = Sizes("full", read_seconds=10, warm_seconds=3, codes=3000, refresh_seconds=10,
             few_tokens=10**3, many_tokens=10**6, calls=2000)
SMOKE = Sizes("smoke", read_seconds=1, warm_seconds=1, codes=40, refresh_seconds=1,
              few_tokens=10**3, many_tokens=10**4, calls=200)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _power(n: int) -> str:
    exponent = len(str(n)) - 1
    return f"10^{exponent}" if n == 10**exponent else str(n)


@dataclass
class Figures:
    """What was measured on one database."""

    database: str
    rates: dict[str, float] = field(default_factory=dict)  # req/s
    p50: dict[str, float] = field(default_factory=dict)  # µs
    error: str = ""


# --- databases ---------------------------------------------------------------------


class Database:
    """A database of the bench's own, made fresh and dropped afterwards."""

    def __init__(self, kind: str, workdir: Path, admin_url: str, suffix: str = "") -> None:
        self.kind = kind
        self.admin_url = admin_url
        if kind == "sqlite":
            self.url = f"sqlite:///{workdir / 'bench.sqlite'}"
        else:
            self.name = f"col_auth_bench_{os.getpid()}{suffix}"
            self.url = sa.make_url(admin_url).set(database=self.name).render_as_string(
                hide_password=False)

    def _admin(self, statement: str) -> None:
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(statement))
        finally:
            engine.dispose()

    def create(self) -> None:
        if self.kind == "postgresql":
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        if self.kind == "postgresql":
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def server_version(self) -> str:
        engine = sa.create_engine(self.admin_url)
        try:
            with engine.connect() as conn:
                return str(conn.execute(sa.text("SHOW server_version")).scalar()).split()[0]
        finally:
            engine.dispose()


# --- one database ------------------------------------------------------------------


def _basic(username: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode("ascii")


def _check(result: load.LoadResult, what: str) -> load.LoadResult:
    if result.errors or not result.ok:
        raise load.LoadError(f"{what}: {result.ok} answered, {result.errors} errors"
                             f" ({result.first_error})")
    return result


def _app(database: Database, instance: Path):
    from col_auth import create_app
    from col_auth.database import upgrade_database

    app = create_app({
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": database.url,
        "RATELIMIT_ENABLED": False,
        # Seeding only: nobody signs in as the bench user.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        # B4 times the read path; validating a seeded token must not write.
        "LAST_USED_RESOLUTION": 86400,
    })
    upgrade_database(app)
    return app


def _b4(kind: str, sizes: Sizes, workdir: Path, admin_url: str, app, fixture,
        figures: Figures, rng: random.Random) -> None:
    """Validation p50 with many live tokens (in ``app``'s database) and with few (in a
    database of their own), measured in alternating rounds."""
    from col_auth.extensions import db

    log(f"{kind}: B4: inserting {_power(sizes.many_tokens)} live tokens")
    started = time.monotonic()
    with app.app_context():
        many = seed.bulk_tokens(fixture, sizes.many_tokens, keep=sizes.calls)
    log(f"{kind}: B4: inserted in {time.monotonic() - started:.0f}s; "
        f"and {_power(sizes.few_tokens)} in another database")
    few_db = Database(kind, workdir / "few", admin_url, suffix="_few")
    few_db.create()
    try:
        few_app = _app(few_db, workdir / "few" / "instance")
        with few_app.app_context():
            few = seed.bulk_tokens(seed.base(), sizes.few_tokens, keep=sizes.calls)
        log(f"{kind}: B4: timing validations, {ROUNDS} rounds on each database")
        few_times, many_times = validation.Timings(), validation.Timings()
        per_round = sizes.calls // ROUNDS
        for round_ in range(ROUNDS):
            warm_up = validation.WARM_UP if round_ == 0 else 0
            validation.measure(few_app, few, per_round, rng, few_times, warm_up)
            validation.measure(app, many, per_round, rng, many_times, warm_up)
        figures.p50["few_basic"], figures.p50["few_bearer"] = few_times.p50_microseconds()
        figures.p50["many_basic"], figures.p50["many_bearer"] = many_times.p50_microseconds()
        with few_app.app_context():
            db.engine.dispose()
    finally:
        few_db.drop()


def bench_database(kind: str, sizes: Sizes, workers: int, workdir: Path, admin_url: str
                   ) -> Figures:
    from col_auth.core.signing_keys import active_key
    from col_auth.extensions import db

    figures = Figures(kind)
    (workdir / "few").mkdir(parents=True)
    instance = workdir / "instance"
    database = Database(kind, workdir, admin_url)
    database.create()
    rng = random.Random(5)
    servers: list[Gunicorn] = []
    try:
        app = _app(database, instance)
        with app.app_context():
            fixture = seed.base()
            active_key()  # the id_token signing key, made once before the workers start
        _b4(kind, sizes, workdir, admin_url, app, fixture, figures, rng)

        log(f"{kind}: seeding tokens and codes for B1-B3")
        with app.app_context():
            connections = 2 * workers
            user_token = seed.legacy_user_token(fixture)
            pairs = seed.token_pairs(fixture, 1 + connections)
            access_token = pairs[0][0]
            chains = [refresh for _access, refresh in pairs[1:]]
            warm_codes = seed.codes(fixture, 2 * connections)
            codes = seed.codes(fixture, sizes.codes)
        with app.app_context():
            db.engine.dispose()

        env = {
            "COL_AUTH_DATABASE_URL": database.url,
            "COL_AUTH_INSTANCE_PATH": str(instance),
            "COL_AUTH_RATELIMIT_ENABLED": "false",
        }
        service = Gunicorn("app:app", workers, dict(
            env, PROMETHEUS_MULTIPROC_DIR=str(_fresh(workdir / "metrics"))),
            workdir / "gunicorn-col_auth.log")
        bare = Gunicorn("bench.bare_app:app", workers, dict(
            env, COL_AUTH_MIGRATE_ON_START="false",
            PROMETHEUS_MULTIPROC_DIR=str(_fresh(workdir / "metrics-bare"))),
            workdir / "gunicorn-bare.log")
        for server in (service, bare):
            servers.append(server)
            server.start()

        me = "/api/v1/me"
        headers = {"basic": {"Authorization": _basic(seed.USERNAME, user_token)},
                   "bearer": {"Authorization": f"Bearer {access_token}"}}
        token_url = service.url + "/api/o/oauth/v2/token"
        client_form = {"client_id": fixture.client_id, "client_secret": fixture.client_secret}
        code_form = dict(client_form, grant_type="authorization_code",
                         redirect_uri=seed.REDIRECT_URI, code_verifier=seed.CODE_VERIFIER)

        def read(url: str, hdrs: dict, seconds: float, what: str) -> float:
            return _check(load.run_get(url, hdrs, seconds, connections), what).rate

        log(f"{kind}: warming up")
        read(bare.url + me, {}, sizes.warm_seconds, "bare warm-up")
        read(service.url + me, headers["basic"], sizes.warm_seconds, "Basic warm-up")
        read(service.url + me, headers["bearer"], sizes.warm_seconds, "Bearer warm-up")
        _check(load.run_job({"mode": "code", "url": token_url, "form": code_form,
                             "items": warm_codes, "seconds": 60, "concurrency": connections}),
               "code warm-up")

        log(f"{kind}: B1/B2 ({sizes.read_seconds:g}s each, bare route before and after,"
            " /healthz for the ceiling)")
        bare_first = read(bare.url + me, {}, sizes.read_seconds, "bare route")
        # The ceiling of B1/B2: the service's cheapest route, no token, no database.
        figures.rates["healthz"] = read(service.url + "/healthz", {}, sizes.read_seconds,
                                        "/healthz")
        figures.rates["basic"] = read(service.url + me, headers["basic"], sizes.read_seconds,
                                      "B1 Basic /api/v1/me")
        figures.rates["bearer"] = read(service.url + me, headers["bearer"], sizes.read_seconds,
                                       "B2 Bearer /api/v1/me")
        bare_second = read(bare.url + me, {}, sizes.read_seconds, "bare route")
        figures.rates["bare"] = (bare_first + bare_second) / 2

        log(f"{kind}: B3 ({len(codes)} code exchanges, then refresh chains)")
        exchange = _check(load.run_job({"mode": "code", "url": token_url, "form": code_form,
                                        "items": codes, "seconds": 600,
                                        "concurrency": connections}), "B3 code exchanges")
        if exchange.ok != len(codes):
            raise load.LoadError(f"B3: {exchange.ok} of {len(codes)} codes exchanged")
        figures.rates["exchange"] = exchange.rate
        refresh = _check(load.run_job({"mode": "refresh", "url": token_url,
                                       "form": dict(client_form, grant_type="refresh_token"),
                                       "chains": chains, "seconds": sizes.refresh_seconds,
                                       "concurrency": connections}), "B3 refreshes")
        figures.rates["refresh"] = refresh.rate
    except Exception as exc:  # noqa: BLE001 - reported, and the other database still runs
        figures.error = f"{exc.__class__.__name__}: {exc}"
        log(f"{kind}: FAILED\n{traceback.format_exc()}")
    finally:
        for server in servers:
            server.stop()
        try:
            database.drop()
        except Exception as exc:  # noqa: BLE001
            log(f"{kind}: could not drop the bench database: {exc}")
    return figures


def _load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def _fresh(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- report ------------------------------------------------------------------------


def _verdict(bench: str, ratio: float) -> str:
    op, target = TARGETS[bench]
    met = ratio >= target if op == ">=" else ratio <= target
    return f"target {op} {target}: {'met' if met else 'MISSED'}"


def report(all_figures: list[Figures], sizes: Sizes) -> list[str]:
    few, many = _power(sizes.few_tokens), _power(sizes.many_tokens)
    lines = []
    for f in all_figures:
        db = f"{f.database:<10}"
        if f.error:
            lines.append(f"{db} FAILED: {f.error}")
            continue
        r, p = f.rates, f.p50
        bare = r["bare"]
        lines.append(f"B0 {db} GET /healthz (no token, no query) ÷ bare Flask route: ratio"
                     f" {r['healthz'] / bare:.2f}  ({r['healthz']:.0f} / {bare:.0f} req/s)"
                     "  the ceiling of B1/B2")
        for bench, key, what in (("B1", "basic", "Basic  GET /api/v1/me"),
                                 ("B2", "bearer", "Bearer GET /api/v1/me")):
            ratio = r[key] / bare
            lines.append(f"{bench} {db} {what} ÷ bare Flask route: ratio {ratio:.2f}"
                         f"  ({r[key]:.0f} / {bare:.0f} req/s)  {_verdict(bench, ratio)}")
        for key, what in (("exchange", "code exchanges/s"), ("refresh", "refreshes/s    ")):
            lines.append(f"B3 {db} {what} ÷ bare Flask route: ratio {r[key] / bare:.3f}"
                         f"  ({r[key]:.0f} / {bare:.0f} req/s)")
        for key, what in (("basic", "Basic "), ("bearer", "Bearer")):
            ratio = p[f"many_{key}"] / p[f"few_{key}"]
            lines.append(f"B4 {db} {what} validation p50, {many} ÷ {few} live tokens: ratio"
                         f" {ratio:.2f}  ({p[f'many_{key}']:.0f} / {p[f'few_{key}']:.0f} µs)"
                         f"  {_verdict('B4', ratio)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help=f"tiny and quick: only shows it runs (also env {SMOKE_ENV}=1)")
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="comma separated: sqlite, postgresql (default both)")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1,
                        help="gunicorn workers of both apps (default: gunicorn.conf.py's,"
                             " 2 x cores + 1)")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "COL_AUTH_BENCH_POSTGRES_URL", os.environ.get("COL_AUTH_TEST_DATABASE_URL",
                                                      DEFAULT_PG_URL)),
        help="a PostgreSQL server to create the bench's own database on")
    args = parser.parse_args(argv)
    smoke = args.smoke or os.environ.get(SMOKE_ENV, "").lower() in ("1", "true", "yes")
    sizes = SMOKE if smoke else FULL
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    for kind in kinds:
        if kind not in ("sqlite", "postgresql"):
            parser.error(f"unknown database {kind!r}")

    reader = load.wrk_version() if load.wrk_path() else "Python (wrk is not installed)"
    extra = {"load generators": f"{reader} for B0-B2, Python for B3"}
    if "postgresql" in kinds:
        try:
            extra["PostgreSQL"] = Database("postgresql", Path(), args.postgres_url
                                           ).server_version()
        except Exception as exc:  # noqa: BLE001
            extra["PostgreSQL"] = f"unreachable ({exc.__class__.__name__})"
    started = time.monotonic()
    load_before = _load_average()
    root = Path(tempfile.mkdtemp(prefix="col-auth-bench-"))
    all_figures = [bench_database(kind, sizes, args.workers, root / kind, args.postgres_url)
                   for kind in kinds]
    failed = any(f.error for f in all_figures)
    if failed:
        log(f"logs kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)

    print(f"== col_auth benchmarks, {sizes.name} mode, {time.monotonic() - started:.0f}s ==")
    for line in machine.describe(extra):
        print(line)
    # Other work on the machine skews every figure: say how busy it was.
    print(f"load average (1 min): {load_before} before, {_load_average()} after")
    print(f"gunicorn: gunicorn.conf.py, {args.workers} sync workers for both apps;"
          f" load from another process, {2 * args.workers} connections")
    for line in report(all_figures, sizes):
        print(line)
    return 1 if failed else 0
