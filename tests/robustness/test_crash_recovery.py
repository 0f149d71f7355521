"""Workers killed with SIGKILL under load: gunicorn (4 sync workers, PostgreSQL)
restarts them, and nothing a client was given is lost or half-written.

A few threads redeem codes and refresh the tokens they got while another thread
``kill -9``s worker processes (children of the gunicorn master, found in /proc)
``COL_AUTH_CRASH_KILLS`` times (default 6). Afterwards:

- every chain whose every answer the client received: its last access token
  works at /api/v1/me and its last refresh token refreshes;
- a request cut off by a kill left either nothing or a whole answer (a chain in
  doubt refreshes, or is refused as a replay: never a 5xx);
- in the database, every grant has its tokens in pairs, exactly one live refresh
  token per live grant, and every used code points at an existing grant.

The key files a worker generates on first use (the id_token signing key, made
when the first id_token is signed) are crash-safe too: a process killed while
generating one leaves no empty file behind. (It did: an empty
``oidc_signing_key.pem`` made every later code exchange a 500.)
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from col_auth.config import load_or_create_secret
from col_auth.core.models import AuthorizationCode, Grant, Token
from col_auth.extensions import db
from tests.oauth.support import seed_client
from tests.robustness.conftest import CRASH_KILLS, clean, dispose, seeding_app
from tests.robustness.support import create_codes, exchange, fresh_get, refresh

WORKERS = 4
LOAD_THREADS = 3
REFRESHES_PER_CHAIN = 3
CODES = 300


@dataclass
class Chain:
    access: str
    refresh: str
    refreshes: int = 0
    in_doubt: bool = False  # a request of it was cut off: its outcome is unknown


class Load:
    """Code exchanges and refreshes from several threads until told to stop."""

    def __init__(self, base: str, seeded, codes: list[str]) -> None:
        self.base, self.seeded = base, seeded
        self.codes = codes
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.chains: list[Chain] = []
        self.statuses: Counter = Counter()
        self.cut_off = 0
        self.unexpected: list[str] = []

    def _next_code(self) -> str | None:
        with self.lock:
            return self.codes.pop() if self.codes else None

    def _count(self, what: str, status: int | None) -> None:
        with self.lock:
            if status is None:
                self.cut_off += 1
            else:
                self.statuses[(what, status)] += 1

    def _refresh(self, chain: Chain) -> None:
        try:
            response = refresh(self.base, self.seeded, chain.refresh)
        except requests.ConnectionError:
            self._count("refresh", None)
            chain.in_doubt = True
            return
        self._count("refresh", response.status_code)
        if response.status_code != 200:
            self.unexpected.append(f"refresh of a token received with a 200: "
                                   f"{response.status_code} {response.text[:200]}")
            chain.in_doubt = True  # not tried again; reported above
            return
        body = response.json()
        chain.access, chain.refresh = body["access_token"], body["refresh_token"]
        chain.refreshes += 1

    def worker(self) -> None:
        mine: list[Chain] = []
        while not self.stop.is_set():
            code = self._next_code()
            if code is None:  # codes used up: keep refreshing the chains there are
                live = [c for c in mine if not c.in_doubt]
                if not live:
                    return
                self._refresh(random.choice(live))
                continue
            try:
                response = exchange(self.base, self.seeded, code)
            except requests.ConnectionError:
                self._count("exchange", None)
                continue
            self._count("exchange", response.status_code)
            if response.status_code != 200:
                self.unexpected.append(f"exchange of a fresh code: {response.status_code} "
                                       f"{response.text[:200]}")
                continue
            body = response.json()
            chain = Chain(body["access_token"], body["refresh_token"])
            with self.lock:
                self.chains.append(chain)
            mine.append(chain)
            for _ in range(REFRESHES_PER_CHAIN):
                if chain.in_doubt or self.stop.is_set():
                    break
                self._refresh(chain)


def _killer(server, kills: int, done: list[int], stop: threading.Event) -> None:
    """``kill -9`` a random worker, wait for gunicorn to replace it, ``kills`` times."""
    rng = random.Random()
    for _ in range(kills):
        if stop.wait(rng.uniform(0.3, 0.9)):
            return
        workers = server.worker_pids()
        if not workers:
            continue
        victim = rng.choice(workers)
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            continue
        done.append(victim)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the master notices and boots a new one
            pids = server.worker_pids()
            if victim not in pids and len(pids) >= server.workers:
                break
            time.sleep(0.05)


@pytest.fixture(scope="module")
def server(gunicorn_factory):
    return gunicorn_factory(workers=WORKERS)


@pytest.fixture
def store(server):
    app = seeding_app(server.database_url, server.instance_path)
    clean(app)
    yield app
    clean(app)
    dispose(app)


def test_kill_9_of_workers_under_load_loses_nothing_and_half_writes_nothing(server, store):
    seeded = seed_client(store)
    load = Load(server.url, seeded, create_codes(store, seeded, seeded.legacy.member_id, CODES))
    first_workers = set(server.worker_pids())
    killed: list[int] = []
    stop_killing = threading.Event()
    threads = [threading.Thread(target=load.worker) for _ in range(LOAD_THREADS)]
    killer = threading.Thread(target=_killer, args=(server, CRASH_KILLS, killed, stop_killing))
    for thread in threads:
        thread.start()
    killer.start()
    killer.join(CRASH_KILLS * 65)
    time.sleep(0.5)  # a little load after the last restart
    load.stop.set()
    stop_killing.set()
    for thread in threads:
        thread.join(120)

    summary = (f"kills={len(killed)} chains={len(load.chains)} cut_off={load.cut_off} "
               f"statuses={dict(load.statuses)}")
    print(summary)
    assert len(killed) == CRASH_KILLS, summary
    assert not load.unexpected, (load.unexpected[:5], summary, server.errors()[-3000:])
    assert not [k for k in load.statuses if k[1] >= 500], (summary, server.errors()[-3000:])
    server.wait_workers()
    assert set(server.worker_pids()) != first_workers, "the killed workers were replaced"
    assert server.process.poll() is None, "the master survived"

    # Every chain the client fully received still works; a chain in doubt is whole
    # either way.
    in_doubt = [c for c in load.chains if c.in_doubt]
    certain = [c for c in load.chains if not c.in_doubt]
    assert certain, summary
    for chain in certain:
        me = fresh_get(server.url + "/api/v1/me", {"Authorization": f"Bearer {chain.access}"})
        assert me.status_code == 200, (me.status_code, me.text[:200])
        assert refresh(server.url, seeded, chain.refresh).status_code == 200
    for chain in in_doubt:
        assert refresh(server.url, seeded, chain.refresh).status_code in (200, 400)

    _assert_nothing_half_written(store)


def _assert_nothing_half_written(store) -> None:
    with store.app_context():
        session = db.session
        per_grant = dict(session.execute(
            select(Grant.id, func.count(Token.id)).outerjoin(Token, Token.grant_id == Grant.id)
            .group_by(Grant.id)).all())
        kinds = Counter(session.execute(
            select(Token.grant_id, Token.kind)).all())
        for grant_id, n in per_grant.items():
            access, refresh_ = kinds[(grant_id, "access")], kinds[(grant_id, "refresh")]
            assert n >= 2 and access == refresh_, (grant_id, access, refresh_)
        # Each live grant has exactly one refresh token that is neither rotated nor revoked.
        for grant in session.scalars(select(Grant).where(Grant.revoked_at.is_(None))):
            heads = [t for t in grant.tokens
                     if t.kind == "refresh" and t.rotated_at is None and t.revoked_at is None]
            assert len(heads) == 1, (grant.id, len(heads))
        # Codes: used iff they point at a grant, and that grant exists; each OAuth grant
        # was made by exactly one code.
        codes = session.scalars(select(AuthorizationCode)).all()
        for code in codes:
            assert (code.used_at is None) == (code.grant_id is None), code.id
            if code.grant_id is not None:
                assert code.grant_id in per_grant, code.grant_id
        made_by = Counter(code.grant_id for code in codes if code.grant_id)
        assert set(made_by) == set(per_grant)
        assert set(made_by.values()) <= {1}
        db.session.remove()


# --- generated key files -------------------------------------------------------------

_GENERATE = """
import os, sys, time
from pathlib import Path
from col_auth.config import load_or_create_secret

def slow_factory():
    print("generating", flush=True)
    time.sleep(float(sys.argv[2]))
    return f"key-of-{os.getpid()}"

print("got", load_or_create_secret(Path(sys.argv[1]), slow_factory), flush=True)
"""


def _generator(path: Path, seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _GENERATE, str(path), str(seconds)],
                            stdout=subprocess.PIPE, text=True)


def test_a_process_killed_while_generating_a_key_file_leaves_none_behind(tmp_path):
    path = tmp_path / "oidc_signing_key.pem"
    process = _generator(path, 30)
    assert process.stdout.readline().strip() == "generating"
    process.kill()
    process.wait(10)
    process.stdout.close()
    assert not path.exists() or path.read_text().strip(), "an empty key file was left"
    # The next start generates the key and keeps it.
    assert load_or_create_secret(path, lambda: "fresh key") == "fresh key"
    assert path.read_text() == "fresh key\n"
    assert load_or_create_secret(path, lambda: "another") == "fresh key"
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_processes_generating_one_key_file_at_once_all_get_the_same_key(tmp_path):
    path = tmp_path / "secret_key"
    processes = [_generator(path, 0.3) for _ in range(4)]
    got = set()
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        got |= {line.removeprefix("got ") for line in out.splitlines()
                if line.startswith("got ")}
    assert len(got) == 1, got
    assert path.read_text().strip() == got.pop()
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"], "no temporary file left"
