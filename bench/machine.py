"""What the figures were measured on: cores, CPU, memory, Python and library versions."""

from __future__ import annotations

import os
import platform
import sqlite3
from importlib import metadata
from pathlib import Path

_PACKAGES = ("Flask", "Werkzeug", "SQLAlchemy", "Flask-SQLAlchemy", "gunicorn", "psycopg")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def describe(extra: dict[str, str]) -> list[str]:
    """Lines describing this machine and software, ``extra`` (name: version) appended."""
    packages = ", ".join(f"{name} {_version(name)}" for name in _PACKAGES)
    software = [f"Python {platform.python_version()}", packages, f"SQLite {sqlite3.sqlite_version}"]
    software += [f"{name} {value}" for name, value in extra.items()]
    return [
        f"machine: {os.cpu_count()} cores, {cpu_model()}, {memory_gib()} RAM, "
        f"{platform.system()} {platform.release()}",
        "software: " + "; ".join(software),
    ]
