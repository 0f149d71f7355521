"""Operations endpoints: /healthz (the process answers), /readyz (the database
answers), /metrics (Prometheus text format)."""

from __future__ import annotations

import os

from flask import Blueprint, Flask, Response, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from sqlalchemy import text

from .core import metrics
from .extensions import db
from .web import errors

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
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _count_request(response: Response) -> Response:
    endpoint = request.endpoint or "unknown"
    metrics.HTTP_REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(_count_request)
