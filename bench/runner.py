"""``python -m bench``: every benchmark, on SQLite and on PostgreSQL, in one run.

For each database: a fresh database; B4 (validation p50 with few, then many live
tokens, in-process); then three apps under gunicorn with the same settings and
worker count, loaded from another process: the service, the bare Flask route
and the Authlib reference (``bench.authlib_reference``, on the same database).
The read benchmarks (B0-B2) and the token endpoint's (B3) run in interleaved
rounds: each round measures every app once, in turn, the order reversed every
other round, so a change in the machine's load weighs on all of them alike.
Each req/s figure is the mean of its rounds. Ratios are taken between figures of
the same run.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from . import authlib_seed, load, machine, seed, validation
from .authlib_reference import TOKEN_PATH as AUTHLIB_TOKEN_PATH
from .authlib_reference import create_app as authlib_app
from .authlib_reference import db as authlib_db
from .environment import (
    DEFAULT_REDIS_URL,
    Database,
    default_postgres_url,
    flush_redis,
    fresh_dir,
    redis_for,
    service_app,
    service_env,
)
from .servers import Gunicorn, stop_all

SMOKE_ENV = "COL_AUTH_BENCH_SMOKE"
TARGETS = {"B0": (">=", 0.95), "B1": (">=", 0.8), "B2": (">=", 0.8), "B3": (">=", 2.0),
           "B4": ("<=", 1.2)}
# B4 alternates between its two databases this many times.
B4_ROUNDS = 4
ME = "/api/v1/me"
TOKEN = "/api/o/oauth/v2/token"


@dataclass(frozen=True)
class Sizes:
    """How long and how big each part runs."""

    name: str
    rounds: int  # interleaved rounds of B0-B3
    read_seconds: float  # each read run of a round (B0-B2, bare, Authlib)
    warm_seconds: float  # each app's read warm-up (0: none)
    codes: int  # B3 code exchanges timed, per app, over all rounds
    refresh_seconds: float  # B3 refresh chains, per app and round
    few_tokens: int  # B4
    many_tokens: int
    calls: int  # B4 validations per function and size


FULL = Sizes("full", rounds=3, read_seconds=6, warm_seconds=2, codes=3000, refresh_seconds=4,
             few_tokens=10**3, many_tokens=10**6, calls=2000)
SMOKE = Sizes("smoke", rounds=2, read_seconds=1, warm_seconds=0, codes=40, refresh_seconds=0.5,
              few_tokens=10**3, many_tokens=10**4, calls=200)

# The read runs of a round, in order: (key, what).
READS = (("bare", "bare Flask route"), ("healthz", "/healthz"), ("basic", "B1 Basic"),
         ("bearer", "B2 Bearer"), ("authlib_me", "Authlib /api/v1/me"))
SHORT = {"bare": "bare", "healthz": "/healthz", "basic": "Basic", "bearer": "Bearer",
         "authlib_me": "Authlib me", "exchange": "exchanges",
         "authlib_exchange": "Authlib exchanges", "refresh": "refreshes",
         "authlib_refresh": "Authlib refreshes"}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _power(n: int) -> str:
    exponent = len(str(n)) - 1
    return f"10^{exponent}" if n == 10**exponent else str(n)


@dataclass
class Figures:
    """What was measured on one database."""

    database: str
    redis: str = ""
    runs: dict[str, list[float]] = field(default_factory=dict)  # req/s of each round
    p50: dict[str, float] = field(default_factory=dict)  # µs
    error: str = ""

    def add(self, key: str, rate: float) -> None:
        self.runs.setdefault(key, []).append(rate)

    def rate(self, key: str) -> float:
        """The mean of the rounds' req/s."""
        return statistics.fmean(self.runs[key])


# --- one database ------------------------------------------------------------------


def _basic(username: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode("ascii")


def _check(result: load.LoadResult, what: str) -> load.LoadResult:
    if result.errors or not result.ok:
        raise load.LoadError(f"{what}: {result.ok} answered, {result.errors} errors"
                             f" ({result.first_error})")
    return result


def _b4(kind: str, sizes: Sizes, workdir: Path, admin_url: str, app, fixture,
        figures: Figures, rng: random.Random, redis_url: str) -> None:
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
        few_app = service_app(few_db, workdir / "few" / "instance", redis_url, token_cache=False)
        with few_app.app_context():
            few = seed.bulk_tokens(seed.base(), sizes.few_tokens, keep=sizes.calls)
        log(f"{kind}: B4: timing validations, {B4_ROUNDS} rounds on each database")
        few_times, many_times = validation.Timings(), validation.Timings()
        per_round = sizes.calls // B4_ROUNDS
        for round_ in range(B4_ROUNDS):
            warm_up = validation.WARM_UP if round_ == 0 else 0
            validation.measure(few_app, few, per_round, rng, few_times, warm_up)
            validation.measure(app, many, per_round, rng, many_times, warm_up)
        figures.p50["few_basic"], figures.p50["few_bearer"] = few_times.p50_microseconds()
        figures.p50["many_basic"], figures.p50["many_bearer"] = many_times.p50_microseconds()
        with few_app.app_context():
            db.engine.dispose()
    finally:
        few_db.drop()


@dataclass
class _Side:
    """One app's token endpoint in B3: where, with which forms, which chains per round."""

    url: str
    code_form: dict[str, str]
    refresh_form: dict[str, str]
    chains: list[list[str]]  # per round: one refresh token per connection


def _split(items: list, parts: int) -> list[list]:
    return [items[i::parts] for i in range(parts)]


@dataclass
class _Timed:
    """The load runs of B0-B3 on one database, their figures going into ``figures``."""

    sizes: Sizes
    connections: int
    figures: Figures
    reads: dict[str, tuple[str, dict[str, str]]]  # key: (url, headers)
    sides: dict[str, _Side]  # "service", "authlib"

    def read(self, key: str, seconds: float, what: str) -> float:
        url, headers = self.reads[key]
        return _check(load.run_get(url, headers, seconds, self.connections), what).rate

    def exchange(self, side: str, codes: list[str], what: str) -> float:
        at = self.sides[side]
        result = _check(load.run_job({"mode": "code", "url": at.url, "form": at.code_form,
                                      "items": codes, "seconds": 600,
                                      "concurrency": self.connections}), what)
        if result.ok != len(codes):
            raise load.LoadError(f"{what}: {result.ok} of {len(codes)} codes exchanged")
        return result.rate

    def refresh(self, side: str, round_: int, what: str) -> float:
        at = self.sides[side]
        return _check(load.run_job({"mode": "refresh", "url": at.url, "form": at.refresh_form,
                                    "chains": at.chains[round_],
                                    "seconds": self.sizes.refresh_seconds,
                                    "concurrency": self.connections}), what).rate

    def warm_up(self, codes: dict[str, list[str]]) -> None:
        if self.sizes.warm_seconds:
            for key, what in READS:
                self.read(key, self.sizes.warm_seconds, f"{what} warm-up")
        for side, items in codes.items():
            self.exchange(side, items, f"{side} code warm-up")

    def read_rounds(self) -> None:
        for round_ in range(self.sizes.rounds):
            for key, what in _in_turn(READS, round_):
                self.figures.add(key, self.read(key, self.sizes.read_seconds, what))

    def b3_rounds(self, codes: dict[str, list[list[str]]]) -> None:
        """Per round: the service's and the reference's code exchanges, then their
        refreshes, each pair in turn."""
        for round_ in range(self.sizes.rounds):
            for side, key in _in_turn((("service", "exchange"), ("authlib", "authlib_exchange")),
                                      round_):
                self.figures.add(key, self.exchange(side, codes[side][round_],
                                                    f"B3 {side} code exchanges"))
            for side, key in _in_turn((("service", "refresh"), ("authlib", "authlib_refresh")),
                                      round_):
                self.figures.add(key, self.refresh(side, round_, f"B3 {side} refreshes"))


def _servers(workers: int, workdir: Path, env: dict[str, str]) -> dict[str, Gunicorn]:
    """The service, the bare route and the Authlib reference, same settings, booted
    side by side."""
    apps = {"service": "app:app", "bare": "bench.bare_app:app",
            "authlib": "bench.authlib_reference:app"}
    servers = {}
    for name, wsgi in apps.items():
        own = {"PROMETHEUS_MULTIPROC_DIR": str(fresh_dir(workdir / f"metrics-{name}"))}
        if name != "service":
            own["COL_AUTH_MIGRATE_ON_START"] = "false"  # not theirs: the service's schema
        servers[name] = Gunicorn(wsgi, workers, dict(env, **own),
                                 workdir / f"gunicorn-{name}.log")
    try:
        for server in servers.values():
            server.launch()
        for server in servers.values():
            server.wait_ready()
    except BaseException:
        stop_all(list(servers.values()))  # the caller never sees them
        raise
    return servers


def bench_database(kind: str, sizes: Sizes, workers: int, workdir: Path, admin_url: str,
                   redis_url: str) -> Figures:
    from col_auth.core.signing_keys import active_key
    from col_auth.extensions import db

    redis_url = redis_for(kind, redis_url)
    figures = Figures(kind, redis=redis_url)
    (workdir / "few").mkdir(parents=True)
    instance = workdir / "instance"
    database = Database(kind, workdir, admin_url)
    database.create()
    rng = random.Random(5)
    servers: dict[str, Gunicorn] = {}
    reference = None
    connections = 2 * workers
    chains = connections * sizes.rounds  # one refresh chain per connection and round
    try:
        if redis_url:
            flush_redis(redis_url)
        # B4 times the validation query: with the per-worker cache, most of its draws
        # would be answered from memory, more on the side with fewer distinct samples.
        app = service_app(database, instance, redis_url, token_cache=False)
        with app.app_context():
            fixture = seed.base()
            active_key()  # the id_token signing key, made once before the workers start
        _b4(kind, sizes, workdir, admin_url, app, fixture, figures, rng, redis_url)

        log(f"{kind}: seeding tokens and codes for B1-B3, and the Authlib reference")
        with app.app_context():
            user_token = seed.legacy_user_token(fixture)
            pairs = seed.token_pairs(fixture, 1 + chains)
            warm_codes = seed.codes(fixture, 2 * connections)
            db.engine.dispose()
        reference = authlib_app(database.url)
        ref_fixture = authlib_seed.create(reference)
        ref_pairs = authlib_seed.token_pairs(reference, ref_fixture, 1 + chains)
        authlib_seed.check_me(reference, ref_pairs[0][0])
        ref_warm_codes = authlib_seed.codes(reference, ref_fixture, 2 * connections)

        servers = _servers(workers, workdir, service_env(database, instance, redis_url))
        service, bare, authlib = servers["service"], servers["bare"], servers["authlib"]
        client_form = {"client_id": fixture.client_id, "client_secret": fixture.client_secret}
        timed = _Timed(sizes, connections, figures, reads={
            "bare": (bare.url + ME, {}),
            "healthz": (service.url + "/healthz", {}),
            "basic": (service.url + ME, {"Authorization": _basic(seed.USERNAME, user_token)}),
            "bearer": (service.url + ME, {"Authorization": f"Bearer {pairs[0][0]}"}),
            "authlib_me": (authlib.url + ME, {"Authorization": f"Bearer {ref_pairs[0][0]}"}),
        }, sides={
            "service": _Side(service.url + TOKEN, dict(
                client_form, grant_type="authorization_code", redirect_uri=seed.REDIRECT_URI,
                code_verifier=seed.CODE_VERIFIER), dict(client_form, grant_type="refresh_token"),
                _split([refresh for _access, refresh in pairs[1:]], sizes.rounds)),
            "authlib": _Side(authlib.url + AUTHLIB_TOKEN_PATH, authlib_seed.code_form(ref_fixture),
                             authlib_seed.refresh_form(ref_fixture),
                             _split([refresh for _access, refresh in ref_pairs[1:]],
                                    sizes.rounds)),
        })

        log(f"{kind}: warming up")
        timed.warm_up({"service": warm_codes, "authlib": ref_warm_codes})
        log(f"{kind}: B0-B2, bare route and Authlib: {sizes.rounds} rounds of"
            f" {len(READS)} runs, {sizes.read_seconds:g}s each")
        timed.read_rounds()

        # Made now: the reference's codes expire 5 minutes after they are made.
        log(f"{kind}: B3: seeding {sizes.codes} codes for each token endpoint")
        with app.app_context():
            codes = _split(seed.codes(fixture, sizes.codes), sizes.rounds)
            db.engine.dispose()
        ref_codes = _split(authlib_seed.codes(reference, ref_fixture, sizes.codes), sizes.rounds)
        log(f"{kind}: B3: {sizes.rounds} rounds: code exchanges ({len(codes[0])} per app),"
            f" then refresh chains ({sizes.refresh_seconds:g}s per app)")
        timed.b3_rounds({"service": codes, "authlib": ref_codes})
    except Exception as exc:  # noqa: BLE001 - reported, and the other database still runs
        figures.error = f"{exc.__class__.__name__}: {exc}"
        log(f"{kind}: FAILED\n{traceback.format_exc()}")
    finally:
        stop_all(list(servers.values()))
        if reference is not None:
            with reference.app_context():
                authlib_db.engine.dispose()
        try:
            database.drop()
        except Exception as exc:  # noqa: BLE001
            log(f"{kind}: could not drop the bench database: {exc}")
    return figures


def _in_turn(runs: tuple, round_: int) -> tuple:
    """Every run of a round, in turn: in order, reversed every other round."""
    return runs if round_ % 2 == 0 else runs[::-1]


def _load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


# --- report ------------------------------------------------------------------------


def _verdict(bench: str, ratio: float) -> str:
    op, target = TARGETS[bench]
    met = ratio >= target if op == ">=" else ratio <= target
    return f"  target {op} {target}: {'met' if met else 'MISSED'}"


def _ratio_line(bench: str, db: str, what: str, ratio: float, figures: str,
                target: bool = True, digits: int = 2) -> str:
    verdict = _verdict(bench, ratio) if target else ""
    return f"{bench} {db} {what}: ratio {ratio:.{digits}f}  ({figures}){verdict}"


def _report_database(f: Figures, few: str, many: str) -> list[str]:
    db = f"{f.database:<10}"
    if f.error:
        return [f"{db} FAILED: {f.error}"]
    r = {key: f.rate(key) for key in f.runs}
    p = f.p50

    def per(a: str, b: str) -> str:
        return f"{r[a]:.0f} / {r[b]:.0f} req/s"

    bare = "÷ bare Flask route"
    ref = "÷ Authlib reference"
    lines = [
        _ratio_line("B0", db, f"GET /healthz (no token, no query) {bare}",
                    r["healthz"] / r["bare"], per("healthz", "bare")),
        _ratio_line("B1", db, f"Basic  GET /api/v1/me {bare}", r["basic"] / r["bare"],
                    per("basic", "bare")),
        _ratio_line("B2", db, f"Bearer GET /api/v1/me {bare}", r["bearer"] / r["bare"],
                    per("bearer", "bare")),
        _ratio_line("B2", db, f"Bearer GET /api/v1/me {ref}", r["bearer"] / r["authlib_me"],
                    per("bearer", "authlib_me"), target=False),
        _ratio_line("B3", db, f"code exchanges/s {ref}", r["exchange"] / r["authlib_exchange"],
                    per("exchange", "authlib_exchange")),
        _ratio_line("B3", db, f"refreshes/s      {ref}", r["refresh"] / r["authlib_refresh"],
                    per("refresh", "authlib_refresh")),
        _ratio_line("B3", db, f"code exchanges/s {bare}", r["exchange"] / r["bare"],
                    per("exchange", "bare"), target=False, digits=3),
        _ratio_line("B3", db, f"refreshes/s      {bare}", r["refresh"] / r["bare"],
                    per("refresh", "bare"), target=False, digits=3),
    ]
    for key, what in (("basic", "Basic "), ("bearer", "Bearer")):
        ratio = p[f"many_{key}"] / p[f"few_{key}"]
        lines.append(_ratio_line(
            "B4", db, f"{what} validation p50, {many} ÷ {few} live tokens", ratio,
            f"{p[f'many_{key}']:.0f} / {p[f'few_{key}']:.0f} µs"))
    rounds = "; ".join(f"{SHORT[key]} " + "/".join(f"{v:.0f}" for v in values)
                       for key, values in f.runs.items())
    lines.append(f"   {db} req/s of each round: {rounds}")
    return lines


def report(all_figures: list[Figures], sizes: Sizes) -> list[str]:
    few, many = _power(sizes.few_tokens), _power(sizes.many_tokens)
    return [line for f in all_figures for line in _report_database(f, few, many)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help=f"tiny and quick: only shows it runs (also env {SMOKE_ENV}=1)")
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="comma separated: sqlite, postgresql (default both)")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1,
                        help="gunicorn workers of every app (default: gunicorn.conf.py's,"
                             " 2 x cores + 1)")
    parser.add_argument("--postgres-url", default=default_postgres_url(),
                        help="a PostgreSQL server to create the bench's own database on")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL,
                        help="the Redis the service gets on PostgreSQL (flushed before the run;"
                             f" default {DEFAULT_REDIS_URL}; '' for none). SQLite runs get none")
    args = parser.parse_args(argv)
    smoke = args.smoke or os.environ.get(SMOKE_ENV, "").lower() in ("1", "true", "yes")
    sizes = SMOKE if smoke else FULL
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    for kind in kinds:
        if kind not in ("sqlite", "postgresql"):
            parser.error(f"unknown database {kind!r}")

    reader = load.wrk_version() if load.wrk_path() else "Python (wrk is not installed)"
    extra = {"Authlib": metadata.version("Authlib"),
             "load generators": f"{reader} for B0-B2, Python for B3"}
    if "postgresql" in kinds:
        try:
            extra["PostgreSQL"] = Database("postgresql", Path(), args.postgres_url
                                           ).server_version()
        except Exception as exc:  # noqa: BLE001
            extra["PostgreSQL"] = f"unreachable ({exc.__class__.__name__})"
    started = time.monotonic()
    load_before = _load_average()
    root = Path(tempfile.mkdtemp(prefix="col-auth-bench-"))
    all_figures = [bench_database(kind, sizes, args.workers, root / kind, args.postgres_url,
                                  args.redis_url) for kind in kinds]
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
    print(f"gunicorn: gunicorn.conf.py, {args.workers} sync workers for each app (service,"
          f" bare Flask route, Authlib reference); load from another process,"
          f" {2 * args.workers} connections")
    print("Redis: " + "; ".join(f"{f.database} {f.redis or 'none'}" for f in all_figures)
          + " (the service's COL_AUTH_RATELIMIT_STORAGE_URI, flushed before the run;"
            " rate limiting off)")
    print(f"rounds: each req/s figure is the mean of {sizes.rounds} interleaved rounds"
          f" (every app once per round, in turn, the order reversed every other round);"
          f" reads {sizes.read_seconds:g}s a run, B3 {sizes.codes} codes and"
          f" {sizes.rounds} x {sizes.refresh_seconds:g}s of refreshes per app")
    for line in report(all_figures, sizes):
        print(line)
    return 1 if failed else 0
