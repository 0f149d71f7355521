"""Shared test helpers: seeding data, and a person's browser made of ``requests``."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import requests

from col_auth.core import accounts, legacy_apps
from col_auth.extensions import db

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')

RETURN_URL = "https://app.example/return?keep=me"
PASSWORD = "correct horse battery staple"


def csrf_token(page: str) -> str:
    match = _CSRF.search(page)
    assert match, "the page has no CSRF token"
    return html.unescape(match.group(1))


def basic(username: str, token: str) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{token}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


@dataclass
class Seed:
    site_id: str
    other_site_id: str
    admin_id: str
    member_id: str
    outsider_id: str
    app_token: str
    app_secret: str


def seed(app, return_url: str = RETURN_URL, privacy_url: str | None = None) -> Seed:
    """Site "Sample CU" with an admin and a member, another site with one user, and an
    app owned by the admin."""
    with app.app_context():
        site = accounts.create_site("Sample CU")
        other = accounts.create_site("Other CU")
        admin = accounts.create_user("admin", site=site, password=PASSWORD,
                                     full_name="Alex Admin", email="admin@sample.example",
                                     site_admin=True, system_admin=True)
        member = accounts.create_user("Member", site=site, password=PASSWORD,
                                      full_name="Morgan Member", email="m@sample.example")
        outsider = accounts.create_user("outsider", site=other, password=PASSWORD,
                                        full_name="Oscar Outsider")
        app_row, secret = legacy_apps.register_app(admin, name="Test App",
                                                   return_url=return_url,
                                                   privacy_url=privacy_url)
        db.session.commit()
        return Seed(site.id, other.id, admin.id, member.id, outsider.id, app_row.app_token,
                    secret)


class Browser:
    """A person with a browser: a cookie jar, no redirects followed unless asked."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.session = requests.Session()

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        url = path if path.startswith("http") else self.base + path
        return self.session.get(url, timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        url = path if path.startswith("http") else self.base + path
        return self.session.post(url, timeout=10, **kwargs)

    def login(self, username: str, password: str = PASSWORD) -> requests.Response:
        page = self.get("/login")
        response = self.post("/login", data={"csrf_token": csrf_token(page.text),
                                             "username": username, "password": password})
        assert response.status_code == 302, response.text[:500]
        return response

    def submit(self, page_path: str, data: dict, action: str | None = None
               ) -> requests.Response:
        """GET ``page_path``, then POST ``data`` with its CSRF token to ``action``."""
        page = self.get(page_path)
        assert page.status_code == 200, (page.status_code, page.text[:300])
        return self.post(action or page_path, data={"csrf_token": csrf_token(page.text), **data})
