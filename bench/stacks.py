"""Reading py-spy's raw samples of a gunicorn worker and saying where the time went.

py-spy ``--format raw`` writes one line per distinct stack: the frames from the
outermost to the innermost, ``function (path:line)``, joined by ``;``, then how
many samples had that stack. Each frame is mapped to categories by its file path
and function name. Two views of a route come out of it:

- its parts, by the structure of a request in the worker: gunicorn outside the
  app (HTTP parsing, writing the answer, closing the connection, the access
  log), the Flask app's own dispatch, each ``before_request`` / ``after_request``
  / teardown function of the app (read from the app itself), the view with its
  decorators (and, in it, token validation, the view function, and what the view
  calls). A sample counts for every part whose frame is on its stack
  (inclusive); the parts of one level do not overlap, so they add up.
- the libraries: each sample's innermost frame names the library whose own
  ("self") time it is; "inclusive" counts a sample for every library on its stack.

py-spy sees Python frames only: time inside a C extension is the self time of the
Python frame that called it. The DB driver's C code (sqlite3, and psycopg's C
part) therefore shows as the self time of SQLAlchemy's few functions that call
the DBAPI (``do_execute``, ``do_commit``, the cursor's ``fetch*``...), which are
counted as the driver; likewise hashing is the self time of the frame that calls
hashlib.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


# --- frames -------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One frame of a sampled stack: py-spy's function name (``co_qualname`` on
    Python 3.11+) and the file path."""

    name: str
    path: str

    @property
    def function(self) -> str:
        return self.name.rsplit(".", 1)[-1]


_FRAME = re.compile(r"^(?P<name>.*) \((?P<path>.*?)(?::\d+)?\)$")


def parse_raw(text: str) -> list[tuple[tuple[Frame, ...], int]]:
    """py-spy's raw output as (frames from outermost to innermost, samples)."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for part in stack.split(";"):
            match = _FRAME.match(part)
            frames.append(Frame(match["name"], match["path"]) if match else Frame(part, ""))
        stacks.append((tuple(frames), int(count)))
    return stacks


def _in(path: str, *parts: str) -> bool:
    return any(part in path for part in parts)


def module_of(path: str) -> str:
    """A dotted module name for a file path (site-packages, the project, the stdlib)."""
    text = path
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in text:
            text = text.split(marker, 1)[1]
            break
    else:
        if text.startswith(str(ROOT) + "/"):
            text = text[len(str(ROOT)) + 1:]
        elif re.search(r"/lib/python3\.\d+/", text):
            text = re.split(r"/lib/python3\.\d+/", text, maxsplit=1)[1]
    text = text.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    return text


@dataclass(frozen=True)
class CodeRef:
    """A function of the app, to find its frames in py-spy's samples."""

    path: str
    qualname: str
    name: str

    def matches(self, frame: Frame) -> bool:
        # The last three path components: py-spy prints co_filename, which is the
        # same string in the worker, but a symlinked prefix would not be.
        return (frame.name in (self.qualname, self.name)
                and _tail(frame.path) == _tail(self.path))


def _tail(path: str) -> tuple[str, ...]:
    return tuple(path.split("/")[-3:])


def code_of(func: object) -> CodeRef | None:
    """Where ``func``'s code is (bound methods, partials and callables unwrapped)."""
    for _ in range(5):
        code = getattr(func, "__code__", None)
        if code is not None:
            return CodeRef(code.co_filename, getattr(code, "co_qualname", code.co_name),
                           code.co_name)
        func = (getattr(func, "__func__", None) or getattr(func, "func", None)
                or type(func).__dict__.get("__call__"))
        if func is None:
            return None
    return None


# --- what the app runs for a route -------------------------------------------------


@dataclass(frozen=True)
class Part:
    """A named part of a request (a hook, the view): its label and its code."""

    label: str
    code: CodeRef


@dataclass
class Anatomy:
    """The app's hooks that run for a route, and the view's chain of decorators."""

    endpoint: str
    hooks: list[Part]
    view: list[CodeRef]  # the view as registered, then each ``__wrapped__`` inside it


def _label(func: object) -> str:
    qualname = getattr(func, "__qualname__", repr(func))
    return f"{qualname.split('<locals>.')[-1]} ({getattr(func, '__module__', '?')})"


def anatomy(app: Flask, method: str, path: str) -> Anatomy:
    """The hooks (``before_request``, ``after_request``, ``teardown_request`` of the
    app and of the route's blueprints, ``teardown_appcontext``) and the view of
    ``method path``, read from ``app``; extensions register theirs there too."""
    endpoint, _args = app.url_map.bind("localhost").match(path, method=method)
    blueprint = endpoint.rpartition(".")[0]
    # As Flask's request.blueprints: the blueprint, then its parents.
    names = blueprint.split(".") if blueprint else []
    blueprints = [".".join(names[:i]) for i in range(len(names), 0, -1)]
    hooks = []
    registries = (("before_request", app.before_request_funcs),
                  ("after_request", app.after_request_funcs),
                  ("teardown_request", app.teardown_request_funcs))
    for kind, registry in registries:
        for key in (None, *blueprints):
            for func in registry.get(key, ()):
                code = code_of(func)
                if code is not None:
                    hooks.append(Part(f"{kind} {_label(func)}", code))
    for func in app.teardown_appcontext_funcs:
        code = code_of(func)
        if code is not None:
            hooks.append(Part(f"teardown_appcontext {_label(func)}", code))
    view, chain = app.view_functions[endpoint], []
    while view is not None and len(chain) < 10:
        code = code_of(view)
        if code is not None:
            chain.append(code)
        view = getattr(view, "__wrapped__", None)
    return Anatomy(endpoint, hooks, chain)


# --- categories ---------------------------------------------------------------------

# SQLAlchemy's functions that call the DBAPI: their self time is the driver's C code.
_DBAPI_CALLS = {
    "/sqlalchemy/engine/default.py": {"do_execute", "do_executemany", "do_execute_no_params",
                                      "do_commit", "do_rollback", "do_ping", "do_close",
                                      "connect"},
    "/sqlalchemy/engine/cursor.py": {"fetchone", "fetchall", "fetchmany"},
}


def _is_driver(frame: Frame) -> bool:
    if _in(frame.path, "/psycopg/", "/psycopg_binary/", "/psycopg_pool/", "/psycopg2/",
           "/sqlite3/"):
        return True
    for suffix, functions in _DBAPI_CALLS.items():
        if frame.path.endswith(suffix) and frame.function in functions:
            return "cursor.py" not in suffix or "FetchStrategy" in frame.name
    return False


def _paths(*parts: str) -> Callable[[Frame], bool]:
    return lambda frame: _in(frame.path, *parts)


# Libraries, most specific first: a frame belongs to the first that claims it.
LIBRARIES: list[tuple[str, Callable[[Frame], bool]]] = [
    ("DB driver (psycopg; sqlite3 via SQLAlchemy's DBAPI calls)", _is_driver),
    ("SQLAlchemy: SQL compilation, cache keys",
     _paths("/sqlalchemy/sql/compiler.py", "/sqlalchemy/sql/cache_key.py",
            "/sqlalchemy/sql/traversals.py")),
    ("SQLAlchemy: ORM", _paths("/sqlalchemy/orm/")),
    ("SQLAlchemy: engine, pool, rows, other", _paths("/sqlalchemy/", "/flask_sqlalchemy/")),
    ("JSON (json, flask.json)", _paths("/json/")),
    ("hashing, crypto (hashlib, hmac, secrets, jwt)",
     _paths("/hashlib.py", "/hmac.py", "/secrets.py", "/cryptography/", "/jwt/", "/jwcrypto/",
            "/werkzeug/security.py", "/col_auth/core/crypto.py")),
    ("logging (incl. gunicorn's access log)",
     _paths("/logging/", "/gunicorn/glogging.py", "/col_auth/access_log.py")),
    ("prometheus_client (metrics)", _paths("/prometheus_client/")),
    ("Redis (redis-py)", _paths("/redis/")),
    ("Flask-Limiter, limits", _paths("/flask_limiter/", "/limits/")),
    ("Flask-WTF, Flask-Login, Flask-CORS",
     _paths("/flask_wtf/", "/wtforms/", "/flask_login/", "/flask_cors/", "/flask_migrate/")),
    ("werkzeug", _paths("/werkzeug/")),
    ("Flask", _paths("/flask/")),
    ("gunicorn", _paths("/gunicorn/")),
    ("Authlib", _paths("/authlib/")),
    ("app code (col_auth, bench)", lambda f: _in(f.path, "/col_auth/") or
     f.path.startswith(str(ROOT / "bench"))),
    ("Python stdlib, other", lambda f: True),
]
SQLALCHEMY_ALL = "SQLAlchemy, all (incl. the driver calls)"


def library_of(frame: Frame) -> str:
    for label, claims in LIBRARIES:
        if claims(frame):
            return label
    return LIBRARIES[-1][0]


# The token validation of col_auth's views (inside require_token's wrapper).
TOKEN_VALIDATION = (("/col_auth/http_auth.py", "authenticate"),)

GUNICORN_PARTS = {
    "parse": "HTTP request parsing, WSGI environ",
    "respond": "writing the answer, socket I/O",
    "close": "closing the connection (close_graceful: waits for the client's FIN)",
    "log": "access log",
    "loop": "worker loop, other",
}


def _is_idle(frame: Frame) -> bool:
    # The sync worker's select() on the listening socket: no request to handle.
    return frame.path.endswith("/gunicorn/workers/sync.py") and frame.function == "wait"


def _is_app_entry(frame: Frame) -> bool:
    return frame.path.endswith("/flask/app.py") and frame.function in ("__call__", "wsgi_app")


def _gunicorn_part(frames: tuple[Frame, ...]) -> str:
    """Which part of gunicorn's own work a sample outside the app is (innermost first)."""
    last = len(frames) - 1
    for index in range(last, -1, -1):
        frame = frames[index]
        path = frame.path
        if _in(path, "/gunicorn/glogging.py", "/col_auth/access_log.py", "/logging/"):
            return "log"
        if path.endswith("/gunicorn/util.py") and frame.function == "close_graceful":
            return "close"
        if "/gunicorn/http/" in path:
            return "respond" if frame.name.startswith("Response.") else "parse"
        if _in(path, "/gunicorn/util.py", "/gunicorn/sock.py", "/socket.py", "/ssl.py"):
            return "respond"
        if index == last and path.endswith("/gunicorn/workers/sync.py") and \
                frame.function == "accept":
            return "respond"  # accept() itself: socket I/O
    return "loop"


# --- one route's profile ------------------------------------------------------------


@dataclass
class RouteProfile:
    """The samples of one route, counted by part and by library."""

    name: str
    label: str
    rate: float  # requests per second served while sampled
    cpu_us: float | None  # the worker's CPU time per request (from /proc), if known
    anatomy: Anatomy
    # What all the samples stand for, per request: the wall time (10^6 / rate, the
    # samples include idle stacks) or the worker's CPU time (they do not).
    basis: str = "wall"
    samples: int = 0  # the worker's main thread, idle included
    other_threads: int = 0
    counts: Counter = field(default_factory=Counter)
    callees: Counter = field(default_factory=Counter)

    def share(self, key: str) -> float:
        return self.counts[key] / self.samples if self.samples else 0.0

    @property
    def per_request_us(self) -> float:
        if self.basis == "cpu":
            return self.cpu_us or 0.0
        return 1e6 / self.rate if self.rate else 0.0

    def us(self, count: float) -> float:
        """µs per request of ``count`` samples: their share x wall time / requests served
        (or x the worker's CPU time per request, on the CPU basis)."""
        return count / self.samples * self.per_request_us if self.samples else 0.0


def profile(name: str, label: str, raw: str, anatomy_: Anatomy, rate: float,
            cpu_us: float | None, basis: str = "wall") -> RouteProfile:
    """Count ``raw``'s samples by part and by library."""
    result = RouteProfile(name, label, rate, cpu_us, anatomy_, basis)
    for frames, count in parse_raw(raw):
        if frames and frames[0].path.endswith("/threading.py"):
            result.other_threads += count  # not the worker's request loop
            continue
        result.samples += count
        for key in _classify(frames, anatomy_, result.callees, count):
            result.counts[key] += count
    return result


def _classify(frames: tuple[Frame, ...], anatomy_: Anatomy, callees: Counter, count: int
              ) -> Iterable[str]:
    if any(_is_idle(frame) for frame in frames):
        yield "idle"
        return
    yield "busy"
    # From gunicorn's first frame: the interpreter's start (runpy) is on every stack.
    start = next((i for i, frame in enumerate(frames) if "/gunicorn/" in frame.path), 0)
    libraries = {library_of(frame) for frame in frames[start:]}
    yield from (f"incl:{label}" for label in libraries)
    if frames:
        yield f"self:{library_of(frames[-1])}"
    if any(_in(frame.path, "/sqlalchemy/", "/flask_sqlalchemy/") or _is_driver(frame)
           for frame in frames):
        yield f"incl:{SQLALCHEMY_ALL}"
    entry = next((i for i, frame in enumerate(frames) if _is_app_entry(frame)), None)
    if entry is None:
        yield "gunicorn"
        yield f"gunicorn:{_gunicorn_part(frames)}"
        return
    yield "app"
    inside = frames[entry:]
    for hook in anatomy_.hooks:
        if any(hook.code.matches(frame) for frame in inside):
            yield "hooks"
            yield f"hook:{hook.label}"
            return
    deepest = None
    for index, frame in enumerate(inside):
        if any(code.matches(frame) for code in anatomy_.view):
            deepest = index
    if deepest is None:
        yield "dispatch"
        return
    yield "view"
    if any(frame.path.endswith(path) and frame.function == function
           for frame in inside[deepest:] for path, function in TOKEN_VALIDATION):
        yield "view:token"
    if anatomy_.view and any(anatomy_.view[-1].matches(frame) for frame in inside):
        yield "view:function"
    callee = inside[deepest + 1] if deepest + 1 < len(inside) else None
    label = f"{module_of(callee.path)}.{callee.name}" if callee else "(the view's own code)"
    callees[label] += count


# --- tables -------------------------------------------------------------------------


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]


def render(table: Table, markdown: bool) -> str:
    if markdown:
        lines = [text for title in table.title.splitlines() for text in (f"**{title}**", "")]
        lines += ["| " + " | ".join(table.header) + " |",
                 "|" + "|".join(" --- " if i == 0 else " ---: " for i in range(len(table.header)))
                 + "|"]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
                  for row in table.rows]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [table.header, *table.rows])
              for i in range(len(table.header))]

    def line(row: list[str]) -> str:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:],
                                                                          strict=True)]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([table.title, line(table.header), rule] + [line(r) for r in table.rows])


def _indent(depth: int, text: str) -> str:
    return "· " * depth + text


def part_rows(p: RouteProfile) -> list[tuple[str, str, int]]:
    """(count key, label, depth) of a route's parts: gunicorn, then the app (dispatch, hooks,
    view), then idle. Rows of one depth under one parent do not overlap."""
    rows = [("busy", "busy: the worker handling requests", 0),
            ("gunicorn", "gunicorn, outside the app", 1)]
    rows += [(f"gunicorn:{key}", label, 2) for key, label in GUNICORN_PARTS.items()]
    rows += [("app", "Flask app (Flask.wsgi_app)", 1),
             ("dispatch", "werkzeug/Flask dispatch (the app but its hooks and view)", 2),
             ("hooks", "the app's hooks, all (before_request, after_request, teardown)", 2)]
    rows += [(f"hook:{h.label}", h.label, 3) for h in p.anatomy.hooks]
    rows += [("view", f"view {p.anatomy.endpoint}, with its decorators", 2),
             ("view:token", "token validation (col_auth.http_auth.authenticate)", 3),
             ("view:function", "the view function"
              + (f" ({p.anatomy.view[-1].qualname})" if p.anatomy.view else ""), 3)]
    rows += [("idle", "waiting for a request (idle)", 0)]
    return rows


def _cells(p: RouteProfile, key: str) -> list[str]:
    return [f"{100 * p.share(key):.1f}%", f"{p.us(p.counts[key]):.0f}"]


def route_tables(p: RouteProfile, callees: int = 8) -> list[Table]:
    """A route's parts (with the view's callees) and its libraries."""
    head = (f"{p.label}: {p.rate:.0f} req/s while sampled, {p.samples} samples"
            + (f", worker CPU {p.cpu_us:.0f} µs/request" if p.cpu_us is not None else "")
            + (f" ({p.other_threads} samples of other threads left out)"
               if p.other_threads else ""))
    rows = [[_indent(depth, label), *_cells(p, key)] for key, label, depth in part_rows(p)]
    # Another cut of the view: by what the view and its decorators call, innermost
    # view frame first (these rows overlap the token validation and view function).
    view_rows = [[_indent(3, "the view again, by what it and its decorators call:"), "", ""]]
    for label, count in p.callees.most_common(callees):
        view_rows.append([_indent(4, label), f"{100 * count / p.samples:.1f}%",
                          f"{p.us(count):.0f}"])
    rest = sum(p.callees.values()) - sum(c for _l, c in p.callees.most_common(callees))
    if rest:
        view_rows.append([_indent(4, "other calls"), f"{100 * rest / p.samples:.1f}%",
                          f"{p.us(rest):.0f}"])
    at = next(i for i, r in enumerate(rows) if r[0].endswith("with its decorators")) + 3
    if not p.anatomy.view:
        at = len(rows) - 1
    if p.callees:
        rows[at:at] = view_rows
    parts = Table(f"{head}\nparts of a request (inclusive)",
                  ["part", "share of samples", "µs/request"], rows)
    libraries = Table(f"{p.label}: libraries (self: innermost frame; inclusive: on the stack)",
                      ["library", "self", "self µs", "inclusive", "incl. µs"],
                      [[label, *_pair(p, f"self:{label}"), *_pair(p, f"incl:{label}")]
                       for label in [*(lib for lib, _c in LIBRARIES), SQLALCHEMY_ALL]])
    return [parts, libraries]


def _pair(p: RouteProfile, key: str) -> list[str]:
    if key == f"self:{SQLALCHEMY_ALL}":
        count = sum(p.counts[f"self:{label}"] for label, _c in LIBRARIES[:4])
    else:
        count = p.counts[key]
    return [f"{100 * count / p.samples:.1f}%" if p.samples else "-", f"{p.us(count):.0f}"]


def summary_tables(profiles: list[RouteProfile]) -> list[Table]:
    """The routes side by side: their parts, then their libraries, in µs per request."""
    header = ["µs per request", *(p.name for p in profiles)]
    rows = [["requests/s while sampled", *(f"{p.rate:.0f}" for p in profiles)],
            ["worker CPU (from /proc)", *(f"{p.cpu_us:.0f}" if p.cpu_us is not None else "-"
                                          for p in profiles)]]
    generic = {"view": "view, with its decorators", "view:function": "the view function"}
    order: dict[str, tuple[str, int]] = {}  # every route's parts, first route first
    for p in profiles:
        for key, label, depth in part_rows(p):
            order.setdefault(key, (generic.get(key, label), depth))
    for key, (label, depth) in order.items():
        cells = []
        for p in profiles:
            has = any(key == k for k, _l, _d in part_rows(p))
            cells.append(f"{p.us(p.counts[key]):.0f}" if has else "-")
        rows.append([_indent(depth, label), *cells])
    basis = profiles[0].basis if profiles else "wall"
    parts = Table(f"parts of a request, inclusive, µs per request ({basis} time)", header, rows)
    lib_rows = [[label, *(f"{p.us(_count(p, 'self', label)):.0f} / "
                          f"{p.us(_count(p, 'incl', label)):.0f}" for p in profiles)]
                for label in [*(lib for lib, _c in LIBRARIES), SQLALCHEMY_ALL]]
    libraries = Table(f"libraries, µs per request ({basis} time): self / inclusive",
                      ["library", *(p.name for p in profiles)], lib_rows)
    return [parts, libraries]


def _count(p: RouteProfile, kind: str, label: str) -> int:
    if kind == "self" and label == SQLALCHEMY_ALL:
        return sum(p.counts[f"self:{lib}"] for lib, _c in LIBRARIES[:4])
    return p.counts[f"{kind}:{label}"]
