"""Operations endpoints: /healthz (the process answers), /readyz (the database
answers), /metrics (Prometheus text format, for the scraper only)."""

from __future__ import annotations

import hmac
import ipaddress
import os

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from sqlalchemy import text

from .core import metrics
from .core.errors import NotFound
from .extensions import db
from .http_auth import bearer_token, read_authorization
from .web import client_ip, errors

bp = Blueprint("ops", __name__)
errors.answer_with(bp, errors.json_response)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        db.session.rollback()
        return jsonify(status="unavailable", error="database_unreachable",
                       error_description=exc.__class__.__name__), 503
    return jsonify(status="ok")


@bp.get("/metrics")
def metrics_endpoint():
    if not _may_read_metrics():
        # As for a URL that does not exist: a stranger learns nothing, not even that
        # there is something to knock at.
        raise NotFound("not_found", "The requested URL was not found on the server.")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _may_read_metrics() -> bool:
    """From an address in ``METRICS_ALLOW``, or with ``METRICS_TOKEN`` as a Bearer."""
    config = current_app.config
    expected = config.get("METRICS_TOKEN") or ""
    if expected:
        presented = bearer_token(read_authorization()) or ""
        if hmac.compare_digest(presented.encode(), expected.encode()):
            return True
    try:
        address = ipaddress.ip_address(client_ip() or "")
    except ValueError:
        return False
    return any(address in network for network in config["METRICS_ALLOW_NETWORKS"])


# Every label value is one of few, whatever the request (a new method name or path
# must not become a new series: issue 9).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _count_request(response: Response) -> Response:
    # request.endpoint is a rule's name (a fixed set) or None when no rule matched.
    endpoint = request.endpoint or "unmatched"
    method = request.method if request.method in _METHODS else "other"
    metrics.labelled(metrics.HTTP_REQUESTS, endpoint, method, str(response.status_code)).inc()
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(_count_request)
