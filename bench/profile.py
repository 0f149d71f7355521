"""``python -m bench.profile``: where one gunicorn worker's time goes, route by route.

Seeds a fresh database (SQLite by default; ``--database postgresql`` for
PostgreSQL, which also gets the bench's Redis, as in ``python -m bench``), starts
the service under ``gunicorn -c gunicorn.conf.py`` with ONE sync worker (and the
bare Flask route likewise), and for each route drives load from another process
while ``py-spy record --pid <worker> --format raw --rate 1000 --nonblocking
--idle`` samples the worker (the master is not sampled). Then it prints, per
route, the share of the worker's samples and the µs per request (share x wall
time / requests served) of each part of a request and of each library: see
``bench.stacks`` for how frames are mapped to them. With ``--cpu``, py-spy leaves
out idle stacks (blocked on the socket or the database) and the shares are of
the worker's CPU time per request, measured from ``/proc`` over the same window.

Routes (``--routes``, comma separated, default all): ``healthz``, ``basic`` and
``bearer`` (``GET /api/v1/me``), ``exchange`` and ``refresh`` (the token
endpoint), ``bare`` (the bare Flask route, for comparison).
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import load, machine, seed, stacks
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

ME = "/api/v1/me"
TOKEN = "/api/o/oauth/v2/token"
# Load starts this long before sampling (connections open, statements cached) and
# goes on this long after it, so the sampling window lies inside the load.
LEAD_SECONDS = 1
TAIL_SECONDS = 2
# One worker exchanges fewer codes than this per second: enough codes are made.
CODES_PER_SECOND = 400


@dataclass(frozen=True)
class Route:
    name: str
    label: str
    server: str  # "service" or "bare"
    method: str
    path: str


ROUTES = {route.name: route for route in (
    Route("healthz", "GET /healthz", "service", "GET", "/healthz"),
    Route("basic", "GET /api/v1/me, Basic user token", "service", "GET", ME),
    Route("bearer", "GET /api/v1/me, Bearer access token", "service", "GET", ME),
    Route("exchange", "POST token endpoint, code exchange", "service", "POST", TOKEN),
    Route("refresh", "POST token endpoint, refresh", "service", "POST", TOKEN),
    Route("bare", "GET /api/v1/me, bare Flask route", "bare", "GET", ME),
)}


class ProfileError(RuntimeError):
    """Something that makes the profile meaningless; its message says what."""


def py_spy_path() -> str | None:
    """py-spy on PATH, or beside this Python (a virtualenv not activated)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def _cpu_seconds(pid: int) -> float:
    """user + system CPU time of ``pid`` so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _basic(username: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode("ascii")


@dataclass
class _Sample:
    raw: str
    rate: float
    cpu_us: float | None


def sample_route(spy: str, pid: int, seconds: int, rate: int, drive: Callable[[float],
                 load.LoadResult], raw_file: Path, what: str, idle: bool = True) -> _Sample:
    """Run ``drive`` (load for a given time) in the background and sample ``pid``
    with py-spy for ``seconds`` in the middle of it."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = drive(LEAD_SECONDS + seconds + TAIL_SECONDS)
        except Exception as exc:  # noqa: BLE001 - re-raised below, in the main thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(LEAD_SECONDS)
    cpu_before, started = _cpu_seconds(pid), time.monotonic()
    command = [spy, "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate),
               "--nonblocking", "--full-filenames", "--duration", str(seconds),
               "--output", str(raw_file)]
    if idle:
        # Idle stacks too: the worker's wait for a connection is told apart by its
        # frames, and time blocked on the database or the socket stays in the figures.
        command.append("--idle")
    done = subprocess.run(command, capture_output=True, text=True,  # noqa: S603
                          check=False)
    wall, cpu = time.monotonic() - started, _cpu_seconds(pid) - cpu_before
    thread.join()
    if done.returncode != 0 or not raw_file.exists():
        raise ProfileError(f"{what}: py-spy failed (exit {done.returncode}):\n"
                           f"{done.stderr.strip() or done.stdout.strip()}")
    if "error" in box:
        raise ProfileError(f"{what}: load failed: {box['error']}")
    result: load.LoadResult = box["result"]  # type: ignore[assignment]
    if result.errors or not result.ok:
        raise ProfileError(f"{what}: {result.ok} answered, {result.errors} errors"
                           f" ({result.first_error})")
    if result.seconds < LEAD_SECONDS + seconds:
        raise ProfileError(f"{what}: the load ended after {result.seconds:.1f}s, before the"
                           " sampling window did (codes ran out? raise --codes)")
    cpu_us = cpu / (result.rate * wall) * 1e6 if result.rate and wall else None
    return _Sample(raw_file.read_text(), result.rate, cpu_us)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.profile",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seconds", type=int, default=10, help="sampling time per route")
    parser.add_argument("--routes", default=",".join(ROUTES),
                        help=f"comma separated, of: {', '.join(ROUTES)} (default all)")
    parser.add_argument("--out", help="keep py-spy's raw files (ROUTE.txt) in this directory")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    parser.add_argument("--summary", action="store_true",
                        help="only the tables of all routes side by side")
    parser.add_argument("--cpu", action="store_true",
                        help="shares of the worker's CPU time, not of the wall time (py-spy"
                             " without --idle)")
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples per second")
    parser.add_argument("--connections", type=int, default=4,
                        help="concurrent clients of the load generator")
    parser.add_argument("--codes", type=int, default=0,
                        help=f"codes made for 'exchange' (default {CODES_PER_SECOND} a second"
                             " of load)")
    parser.add_argument("--postgres-url", default=default_postgres_url())
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL,
                        help="the Redis the service gets on PostgreSQL (flushed first; '' for"
                             " none). SQLite gets none")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    routes = [name.strip() for name in args.routes.split(",") if name.strip()]
    unknown = [name for name in routes if name not in ROUTES]
    if unknown or not routes:
        _parser().error(f"unknown routes {unknown}; pick from {', '.join(ROUTES)}")
    spy = py_spy_path()
    if spy is None:
        print("python -m bench.profile needs py-spy, which is not installed:"
              " pip install py-spy (it samples the worker with ptrace: run as root or with"
              " CAP_SYS_PTRACE)", file=sys.stderr)
        return 2
    version = subprocess.run([spy, "--version"], capture_output=True, text=True,  # noqa: S603
                             check=False).stdout.strip()
    redis_url = redis_for(args.database, args.redis_url)
    load_before = _load_average()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="col-auth-profile-"))
    raw_dir = fresh_dir(Path(args.out)) if args.out else fresh_dir(workdir / "raw")
    try:
        profiles = _run(args, routes, spy, workdir, raw_dir, redis_url)
    except (ProfileError, load.LoadError) as exc:
        print(f"python -m bench.profile: {exc}", file=sys.stderr)
        print(f"logs kept in {workdir}", file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)

    print(f"== col_auth profile: {args.database}, one gunicorn sync worker,"
          f" {args.seconds}s of samples per route, {time.monotonic() - started:.0f}s ==")
    for line in machine.describe({"py-spy": version.removeprefix("py-spy ")}):
        print(line)
    print(f"load average (1 min): {load_before} before, {_load_average()} after")
    idle = "" if args.cpu else " --idle"
    print(f"py-spy record --rate {args.rate} --nonblocking{idle} on the worker only;"
          f" load: {load.wrk_version() if load.wrk_path() else 'Python'} (GET) or Python"
          f" (POST), {args.connections} connections, from {LEAD_SECONDS}s before sampling")
    print(f"Redis: {redis_url or 'none'}; rate limiting off"
          + (f"; raw samples in {raw_dir}" if args.out else ""))
    if args.cpu:
        print("µs/request = share of the worker's (non-idle) samples x its CPU time per"
              " request (from /proc); py-spy's sampling slows the worker")
    else:
        print("µs/request = share of the worker's samples x wall time / requests served"
              " (= share x 10^6 / req/s): time on CPU, waiting for a CPU, and blocked on"
              " the socket or the database; py-spy's sampling slows the worker, so req/s"
              " here are lower than without it")
    tables = stacks.summary_tables(profiles)
    if not args.summary:
        for p in profiles:
            tables += stacks.route_tables(p)
    for table in tables:
        print()
        print(stacks.render(table, args.markdown))
    return 0


def _load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def _run(args: argparse.Namespace, routes: list[str], spy: str, workdir: Path, raw_dir: Path,
         redis_url: str) -> list[stacks.RouteProfile]:
    from col_auth.core.signing_keys import active_key
    from col_auth.extensions import db

    from .bare_app import app as bare_app

    database = Database(args.database, workdir, args.postgres_url)
    database.create()
    servers: dict[str, Gunicorn] = {}
    try:
        if redis_url:
            flush_redis(redis_url)
        instance = workdir / "instance"
        app = service_app(database, instance, redis_url)
        window = LEAD_SECONDS + args.seconds + TAIL_SECONDS
        _log(f"seeding the {args.database} database")
        with app.app_context():
            fixture = seed.base()
            active_key()
            user_token = seed.legacy_user_token(fixture)
            pairs = seed.token_pairs(fixture, 1 + args.connections)
            codes = (seed.codes(fixture, args.codes or math.ceil(CODES_PER_SECOND * window))
                     if "exchange" in routes else [])
            db.engine.dispose()

        # No worker recycling (max_requests) while it is being sampled.
        env = dict(service_env(database, instance, redis_url), COL_AUTH_MAX_REQUESTS="0")
        wanted = {ROUTES[name].server for name in routes}
        if "service" in wanted:
            servers["service"] = Gunicorn("app:app", 1, dict(
                env, PROMETHEUS_MULTIPROC_DIR=str(fresh_dir(workdir / "metrics"))),
                workdir / "gunicorn-col_auth.log")
        if "bare" in wanted:
            servers["bare"] = Gunicorn("bench.bare_app:app", 1, dict(
                env, COL_AUTH_MIGRATE_ON_START="false",
                PROMETHEUS_MULTIPROC_DIR=str(fresh_dir(workdir / "metrics-bare"))),
                workdir / "gunicorn-bare.log")
        for server in servers.values():
            server.launch()
        for server in servers.values():
            server.wait_ready()

        client_form = {"client_id": fixture.client_id, "client_secret": fixture.client_secret}
        headers = {"basic": {"Authorization": _basic(seed.USERNAME, user_token)},
                   "bearer": {"Authorization": f"Bearer {pairs[0][0]}"}}
        profiles = []
        for name in routes:
            route = ROUTES[name]
            server = servers[route.server]
            url = server.url + route.path
            pids = server.worker_pids()
            if len(pids) != 1:
                raise ProfileError(f"{route.server}: expected one worker, found {pids}")

            def drive(seconds: float, name: str = name, url: str = url) -> load.LoadResult:
                if name == "exchange":
                    return load.run_job({
                        "mode": "code", "url": url, "items": codes, "seconds": seconds,
                        "concurrency": args.connections, "form": dict(
                            client_form, grant_type="authorization_code",
                            redirect_uri=seed.REDIRECT_URI, code_verifier=seed.CODE_VERIFIER)})
                if name == "refresh":
                    return load.run_job({
                        "mode": "refresh", "url": url, "seconds": seconds,
                        "concurrency": args.connections,
                        "chains": [refresh for _access, refresh in pairs[1:]],
                        "form": dict(client_form, grant_type="refresh_token")})
                return load.run_get(url, headers.get(name, {}), seconds, args.connections)

            _log(f"{name}: {route.label}, {window}s of load, {args.seconds}s sampled"
                 f" (worker {pids[0]})")
            sampled = sample_route(spy, pids[0], args.seconds, args.rate, drive,
                                   raw_dir / f"{name}.txt", name, idle=not args.cpu)
            if server.worker_pids() != pids:
                raise ProfileError(f"{name}: the worker was replaced while it was sampled")
            target = app if route.server == "service" else bare_app
            profiles.append(stacks.profile(name, route.label, sampled.raw,
                                           stacks.anatomy(target, route.method, route.path),
                                           sampled.rate, sampled.cpu_us,
                                           "cpu" if args.cpu else "wall"))
        return profiles
    finally:
        stop_all(list(servers.values()))
        try:
            database.drop()
        except Exception as exc:  # noqa: BLE001
            _log(f"could not drop the profile's database: {exc}")


def _log(message: str) -> None:
    print(f"[profile {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
