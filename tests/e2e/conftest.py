"""Browser tests: real Chromium (Debian's, never a downloaded one) driven by Playwright,
against the service and the sample third-party app served over HTTP.

Screenshots go to ``test-artifacts/screenshots/``; with
``COL_AUTH_REFRESH_SCREENSHOTS=1`` they are also copied to ``docs/screenshots/``,
which the README shows.
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("COL_AUTH_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as a test artefact (and for the README if asked)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("COL_AUTH_REFRESH_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / path.name)
    return path


@dataclass
class Stack:
    service: str
    sample: str
    info: dict


def _free_port() -> int:
    server = make_server("127.0.0.1", 0, lambda environ, start: [])
    port = server.server_port
    server.server_close()
    return port


@pytest.fixture
def stack(app, live, tmp_path):
    """The demo, as ``col-auth demo`` serves it: seeded data, service and sample app."""
    from col_auth_sample_app import create_sample_app

    from col_auth.demo import seed_demo

    sample_url = f"http://127.0.0.1:{_free_port()}"
    with app.app_context():
        info = seed_demo(sample_url)
    sample = create_sample_app({
        "COL_AUTH_URL": live.url, "PUBLIC_URL": sample_url,
        "APP_TOKEN": info["app_token"], "APP_SECRET": info["app_secret"],
        "CLIENT_ID": info["client_id"], "CLIENT_SECRET": info["client_secret"],
        "STATE_DIR": str(tmp_path / "sample"),
    })
    server = make_server("127.0.0.1", int(sample_url.rsplit(":", 1)[1]), sample, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield Stack(live.url, sample_url, info)
    server.shutdown()
    thread.join(5)


def login(page, base: str, username: str, password: str) -> None:
    """Fill the login form as a person would, by its labels."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.fixture(params=["sqlite"])
def backend(request) -> str:
    """Pages do not depend on the database: the browser tests run on SQLite only
    (the protocol suites cover PostgreSQL)."""
    return request.param


@pytest.fixture
def serve():
    """``serve(wsgi_app)`` serves another app on another port of 127.0.0.1 (so another
    origin than the service's) for the test; returns its server, with ``url``."""
    from tests.relying_parties.support import WsgiServer

    servers: list[WsgiServer] = []

    def start(wsgi_app) -> WsgiServer:
        servers.append(WsgiServer(wsgi_app))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
