"""Prometheus metrics (served at /metrics).

Under gunicorn, set ``PROMETHEUS_MULTIPROC_DIR`` (gunicorn.conf.py does) so the
workers' counts are added up; alone, the process's own registry is used.
"""

from __future__ import annotations

import functools

from prometheus_client import Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

HTTP_REQUESTS = Counter(
    "col_auth_http_requests_total", "HTTP requests by endpoint and status",
    ["endpoint", "method", "status"],
)
GRANTS = Counter("col_auth_grants_total", "Grants made, by protocol face and kind",
                 ["face", "kind"])
REFUSALS = Counter("col_auth_refusals_total", "Authorizations refused or cancelled, by reason",
                   ["face", "reason"])
TOKEN_VALIDATIONS = Counter(
    "col_auth_token_validations_total", "Web API token validations by scheme and result",
    ["scheme", "result"],
)
TOKEN_VALIDATION_SECONDS = Histogram(
    "col_auth_token_validation_seconds", "Time to validate a Web API token",
    ["scheme"], buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
# kind: "code" (a code used twice), "refresh" (a rotated refresh token reused after
# the grace: the chain is revoked), "refresh_grace_retry" (reused within
# REFRESH_GRACE: answered, and what the earlier use issued is revoked).
REPLAYS = Counter("col_auth_replays_detected_total",
                  "Replays detected: a code used twice, a rotated refresh token reused "
                  "after or within the grace", ["kind"])


@functools.lru_cache(maxsize=4096)
def labelled(metric: MetricWrapperBase, *values: str) -> MetricWrapperBase:
    """``metric.labels(*values)``, made once per label set: ``labels`` takes a lock and
    checks its arguments on every call, and the request path calls it several times
    per request. Every label set is one of few (issue 9), so the cache stays small.
    """
    return metric.labels(*values)
