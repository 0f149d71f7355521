"""Secrets at rest: no AppSecret and no issued token is ever stored in clear (contract §3).

The AppSecret is kept encrypted (the server must sign with it) and tokens only as
hashes. On SQLite the raw bytes of the database file (and its WAL) are searched;
on both backends every text column of every table is.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import jwt
import pytest
from sqlalchemy import LargeBinary, String, select

from col_auth.core.ids import SECRET_KEY_PREFIX
from col_auth.extensions import db
from tests.helpers import Browser, csrf_token, query_of, seed

_CODE = re.compile(r'<code id="(app-token|app-secret)">([^<]*)</code>')


def _shown(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _CODE.findall(page)}


def _allow(browser: Browser, app_token: str, token_type: str) -> str:
    page = browser.get(f"/auth/?apptoken={app_token}&type={token_type}")
    assert page.status_code == 200, page.text[:300]
    response = browser.post("/auth/", data={"csrf_token": csrf_token(page.text),
                                            "apptoken": app_token, "type": token_type,
                                            "allow": "Allow"})
    assert response.status_code == 302
    return query_of(response.headers["Location"])["jwt"][0]


def _forms(secret: str) -> list[str]:
    """A secret, its GUID part, in the cases and spellings it could be written in."""
    guid = secret.split("}", 1)[1] if secret.startswith("{") else secret
    variants = {secret, secret.lower(), secret.upper(), guid, guid.lower(), guid.upper(),
                guid.replace("-", "").lower(), guid.replace("-", "").upper()}
    return sorted(variants)


def _exercise(app, live) -> tuple[str, list[str]]:
    """Over HTTP: register an app, regenerate its secret, Allow a user and a site token
    under each secret. Returns the AppToken and every secret and token handed out."""
    seed(app)
    owner = Browser(live.url)
    owner.login("admin")
    member = Browser(live.url)
    member.login("member")

    page = owner.get("/developer/add")
    response = owner.post("/developer/add", data={
        "csrf_token": csrf_token(page.text), "name": "At Rest App",
        "return_url": "https://rest.example/cb", "privacy_url": "https://rest.example/p"})
    assert response.status_code == 200
    shown = _shown(response.text)
    app_token, secret = shown["app-token"], shown["app-secret"]
    handed_out = [secret]

    for round_ in range(2):
        user_packet = _allow(member, app_token, "44")
        site_packet = _allow(owner, app_token, "1")
        for packet, prefix in ((user_packet, "{UserToken}"), (site_packet, "{SiteToken}")):
            token = jwt.decode(packet, secret.encode(), algorithms=["HS256"])["token"]
            assert token.startswith(prefix)
            handed_out.append(token)
        # A used token is touched (last_used) and must still not be written in clear.
        me = member.session.get(live.url + "/api/v1/me", timeout=10,
                                auth=("member", handed_out[-1]))
        assert me.status_code == 200
        if round_ == 0:
            listing = owner.get("/developer")
            response = owner.post(f"/developer/{app_token}/secret",
                                  data={"csrf_token": csrf_token(listing.text)})
            assert response.status_code == 200
            secret = _shown(response.text)["app-secret"]
            assert secret.startswith(SECRET_KEY_PREFIX)
            handed_out.append(secret)
    assert len(set(handed_out)) == 6
    return app_token, handed_out


def _needles(handed_out: list[str]) -> list[str]:
    return sorted({form for secret in handed_out for form in _forms(secret)})


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_file_holds_no_secret_or_token_in_clear(app, live):
    app_token, handed_out = _exercise(app, live)
    with app.app_context():
        db.session.remove()
        path = Path(db.engine.url.database)
        with db.engine.connect() as conn:
            busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, "the WAL checkpoint was blocked"

    files = [path] + [p for p in (Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()]
    # Everything else the instance folder holds (keys, any stray file) is searched too.
    files += [p for p in path.parent.iterdir() if p.is_file() and p not in files]
    contents = {p: p.read_bytes() for p in files}

    # The search works: the AppToken, stored in clear, is found in the database file.
    assert app_token.encode() in contents[path] + contents.get(Path(f"{path}-wal"), b"")

    for needle in _needles(handed_out):
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            raw = needle.encode(encoding)
            for file, data in contents.items():
                assert raw not in data, f"{needle!r} ({encoding}) found in {file.name}"


def test_no_text_column_holds_a_secret_or_token(app, live):
    """Every string and binary column of every table (legacy_apps and tokens among them)."""
    app_token, handed_out = _exercise(app, live)
    needles = _needles(handed_out)
    seen_app_token = False
    with app.app_context():
        db.session.remove()
        tables = {t.name for t in db.metadata.sorted_tables}
        assert {"legacy_apps", "tokens", "grants", "audit_events"} <= tables
        for table in db.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | LargeBinary)]
            if not columns:
                continue
            for row in db.session.execute(select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    text = (value.decode("latin-1") if isinstance(value, bytes)
                            else str(value))
                    seen_app_token |= text == app_token
                    for needle in needles:
                        assert needle not in text, f"{needle!r} in {table.name}.{column.name}"
    assert seen_app_token, "the search reached legacy_apps.app_token"
