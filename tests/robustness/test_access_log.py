"""gunicorn's access log, in gunicorn.conf.py's own format, cannot be forged (issue 9,
finding 7): whatever a request carries, it is logged on exactly one line, with every
control character (C0, DEL, C1) escaped where a person reading the log can see it.

The requests are written to a raw socket: an HTTP library would re-encode the path.
"""

from __future__ import annotations

import re
import socket
import time
from base64 import b64encode
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from col_auth.access_log import SafeAccessLogger
from tests.robustness.conftest import Gunicorn

# A request target whose decoded path (``%(U)s``) holds a whole access log line.
FORGED_TARGET = "/healthz%0a10.9.9.9%20%22POST%20/admin/modules%22%20302%200%201ms%20%22-%22"
# What gunicorn may let through in a header value (RFC 9110 §5.5 bars the other C0
# characters): a tab and the bytes 0x80-0xff, which WSGI reads as Latin-1, so that
# 0x85 (NEL) and 0x9b (CSI, a terminal escape) are C1 controls in the log.
CONTROL_AGENT = b"probe\tagent\x85\x9b[31m"
RAW_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One worker on SQLite, logging in gunicorn.conf.py's format."""
    instance = tmp_path_factory.mktemp("access-log-instance")
    server = Gunicorn(workers=1, database_url=f"sqlite:///{instance}/col_auth.sqlite",
                      instance_path=str(instance),
                      log_dir=tmp_path_factory.mktemp("access-log-logs"),
                      keep_log_format=True)
    server.start()
    yield server
    server.stop()


def _send(server: Gunicorn, target: str, agent: bytes = b"access-log-test") -> bytes:
    """One GET of ``target`` over a connection of its own; the status line answered."""
    request = (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n".encode()
               + b"User-Agent: " + agent + b"\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def _logged_lines(server: Gunicorn, *targets: tuple[str, bytes]) -> list[str]:
    """The access log lines written for ``targets``, sent one after the other.

    A plain request sent last marks the end: with one worker, every line written
    for the requests before it is in the file once its own line is. Lines are split
    at LF only, as a log reader or shipper splits them.
    """
    start = server.access_log.read_bytes().count(b"\n")
    for target, agent in targets:
        assert _send(server, target, agent).startswith(b"HTTP/1.1 "), target
    marker = f"/healthz/end-{time.monotonic_ns()}"
    _send(server, marker)
    deadline = time.monotonic() + 10
    while marker.encode() not in server.access_log.read_bytes():
        assert time.monotonic() < deadline, server.errors()[-3000:]
        time.sleep(0.05)
    lines = server.access_log.read_bytes().decode("utf-8").split("\n")[start:]
    assert marker in lines[-2] and lines[-1] == "", lines[-2:]
    return lines[:-2]


def test_ordinary_request_is_logged_in_the_configured_format(server):
    [line] = _logged_lines(server, ("/healthz", b"Mozilla/5.0 (X11)"))
    assert re.fullmatch(r'127\.0\.0\.1 "GET /healthz" 200 \d+ \d+ms "Mozilla/5\.0 \(X11\)"',
                        line), line


def test_encoded_newline_in_the_path_cannot_forge_an_access_log_line(server):
    lines = _logged_lines(server, (FORGED_TARGET, b"access-log-test"))
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        '127.0.0.1 "GET /healthz\\x0a10.9.9.9 \\"POST /admin/modules\\" 302 0 1ms \\"-\\"" '
    ), lines[0]


def test_control_characters_in_path_query_and_user_agent_are_escaped(server):
    controls = "%00%01%0d%1b%7f%c2%85%c2%9b"
    sent = [(f"/healthz/{controls}x?q={controls}", CONTROL_AGENT),
            (f"/{controls}?next=%0d%0a", b"plain")]
    lines = _logged_lines(server, *sent)
    assert len(lines) == len(sent), lines
    for line in lines:
        assert not RAW_CONTROL.search(line), repr(line)
    escaped_path = "\\x00\\x01\\x0d\\x1b\\x7f\u00c2\\x85\u00c2\\x9b"
    assert f'"GET /healthz/{escaped_path}x" ' in lines[0], repr(lines[0])
    assert lines[0].endswith('"probe\\x09agent\\x85\\x9b[31m"'), repr(lines[0])
    assert f'"GET /{escaped_path}" ' in lines[1], repr(lines[1])



# --- every atom, straight through the logger -------------------------------------------

EVERY_ATOM = ('%(h)s %(l)s %(u)s "%(r)s" %(s)s %(b)s "%(m)s" "%(U)s" "%(q)s" "%(H)s" '
              '"%(f)s" "%(a)s" "%({x-probe}i)s" "%({x-answer}o)s" "%({probe}e)s"')


def _log_once(logger_class, log_dir: Path, controls: str) -> str:
    """The access log line ``logger_class`` writes for a request whose every field
    (path, query, headers, Basic user, environ) carries ``controls``."""
    log = log_dir / f"{logger_class.__name__}-{time.monotonic_ns()}.log"
    cfg = Config()
    cfg.set("accesslog", str(log))
    cfg.set("access_log_format", EVERY_ATOM)
    logger = logger_class(cfg)
    user = b64encode(f"us{controls}er:pw".encode()).decode()
    headers = [("X-PROBE", f"header{controls}"), ("AUTHORIZATION", f"Basic {user}")]
    environ = {"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "GET",
               "RAW_URI": f"/raw{controls}?q", "SERVER_PROTOCOL": "HTTP/1.1",
               "PATH_INFO": f"/path{controls}", "QUERY_STRING": f"q={controls}",
               "HTTP_REFERER": f"http://ref.example/{controls}",
               "HTTP_USER_AGENT": f"agent{controls}", "HTTP_AUTHORIZATION": f"Basic {user}",
               "probe": f"environ{controls}"}
    response = SimpleNamespace(status="200 OK", sent=2, headers=[("X-Answer", f"out{controls}")])
    logger.access(response, SimpleNamespace(headers=headers), environ, timedelta(0, 1, 5))
    for handler in logger.access_log.handlers:
        handler.close()
    return log.read_text(encoding="utf-8")


def test_every_atom_is_escaped_and_an_ordinary_line_is_unchanged(tmp_path):
    ordinary = _log_once(Logger, tmp_path, " plain-text_~")
    assert _log_once(SafeAccessLogger, tmp_path, " plain-text_~") == ordinary

    controls = "\x00\t\n\r\x1b\x7f\x85\x9f\\\""
    [line, end] = _log_once(SafeAccessLogger, tmp_path, controls).split("\n")
    assert end == "" and not RAW_CONTROL.search(line), repr(line)
    escaped = '\\x00\\x09\\x0a\\x0d\\x1b\\x7f\\x85\\x9f\\\\\\"'
    for atom in ("/path", "q=", "http://ref.example/", "agent", "header", "out", "environ",
                 "us", "/raw"):
        assert atom + escaped in line, (atom, line)
