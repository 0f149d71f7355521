"""Only the issuer's host (and ``COL_AUTH_TRUSTED_HOSTS``) is served; no redirect is
built from a request's Host header (issue 9, finding 13)."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest


@pytest.fixture
def app_config(request) -> dict:
    return dict(getattr(request, "param", {}))


def _get(base: str, path: str, host: str) -> http.client.HTTPResponse:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.putrequest("GET", path, skip_host=True)
    connection.putheader("Host", host)
    connection.endheaders()
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


@pytest.mark.parametrize("path", ["/auth//", "/admin//modules", "/static//style.css",
                                  "/login", "/healthz", "/api/v1/me",
                                  "/.well-known/openid-configuration"])
def test_another_host_is_refused_and_never_redirected_to(app, live, path):
    response = _get(live.url, path, "evil.example")
    assert response.status == 400, (response.status, response.getheader("Location"))
    assert response.getheader("Location") is None
    assert b"evil.example" not in response.body


@pytest.mark.parametrize("path", ["/auth//", "/admin//modules"])
def test_the_issuers_host_gets_relative_redirects(app, live, path):
    response = _get(live.url, path, urlsplit(live.url).netloc)
    assert response.status in (301, 302, 308)
    location = response.getheader("Location")
    assert "evil" not in location
    assert urlsplit(location).netloc in ("", urlsplit(live.url).netloc)


@pytest.mark.parametrize("app_config", [{"TRUSTED_HOSTS": "auth.internal, .example.org"}],
                         indirect=True)
def test_trusted_hosts_are_served_too(app, live):
    assert _get(live.url, "/healthz", "auth.internal").status == 200
    assert _get(live.url, "/healthz", "auth.internal:8443").status == 200
    assert _get(live.url, "/healthz", "login.example.org").status == 200
    assert _get(live.url, "/healthz", urlsplit(live.url).netloc).status == 200
    assert _get(live.url, "/healthz", "evil.example").status == 400
    assert _get(live.url, "/healthz", "auth.internal.evil.example").status == 400
