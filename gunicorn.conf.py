"""gunicorn settings for col_auth: ``gunicorn -c gunicorn.conf.py app:app``.

Every value can be overridden by an env var (``GUNICORN_CMD_ARGS`` works too).
The app keeps no state in process memory that correctness depends on, so any
number of workers on any number of hosts can serve it behind a load balancer.
"""

import multiprocessing
import os
import tempfile

# prometheus-client multiprocess mode: each worker writes its counts here and
# /metrics adds them up. Must be set before any worker imports prometheus_client.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR",
                      tempfile.mkdtemp(prefix="col-auth-metrics-"))

bind = os.environ.get("COL_AUTH_BIND", "127.0.0.1:8000")
# Sync workers, (2 x cores) + 1: requests are short and spend their time in the
# database, so a few processes per core keep the cores busy.
workers = int(os.environ.get("COL_AUTH_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = os.environ.get("COL_AUTH_WORKER_CLASS", "sync")
threads = int(os.environ.get("COL_AUTH_THREADS", "1"))
timeout = int(os.environ.get("COL_AUTH_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("COL_AUTH_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("COL_AUTH_KEEPALIVE", "5"))
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = int(os.environ.get("COL_AUTH_MAX_REQUESTS", "10000"))
max_requests_jitter = int(os.environ.get("COL_AUTH_MAX_REQUESTS_JITTER", "1000"))
accesslog = os.environ.get("COL_AUTH_ACCESS_LOG", "-")
errorlog = os.environ.get("COL_AUTH_ERROR_LOG", "-")
# Who the client is, behind the load balancer's X-Forwarded-For: see
# COL_AUTH_PROXY_FIX_HOPS. Never log tokens: the access log has no query string
# for the token endpoint (tokens travel in POST bodies), and packets (?jwt=) go
# to the apps' Return URLs, not to this service.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms "%(a)s"'
# %(U)s is the decoded path: this logger escapes control characters in every atom,
# so a request such as /healthz%0a... cannot write a line of its own.
logger_class = "col_auth.access_log.SafeAccessLogger"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    """Create or upgrade the schema once, before the workers start."""
    if os.environ.get("COL_AUTH_MIGRATE_ON_START", "true").lower() in ("1", "true", "yes"):
        from col_auth import create_app
        from col_auth.database import upgrade_database

        upgrade_database(create_app())


def child_exit(server, worker):
    """prometheus-client multiprocess mode: drop the dead worker's live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
