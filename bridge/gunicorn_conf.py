"""Gunicorn settings for production and for `bridge serve`: `gunicorn -c python:bridge.gunicorn_conf wsgi:app`."""

import signal as _signal

from bridge.config import settings_or_exit as _settings_or_exit

# Read through Settings, so `.env` counts and a bad value is listed with every other problem (exit 2).
_settings = _settings_or_exit()
_web = _settings.web
bind = _web.bind
workers = _web.workers
threads = _web.threads
# gthread, not gevent: SQLite waits for its lock and syncs to disk inside C calls, which under gevent freeze
# every request of the process (measured: /healthz 10 s while another process held the lock). Threads keep
# those waits to the request that has them; the deadlines cut stalled uploads (README: Slow clients).
worker_class = "bridge.web_worker.DeadlineThreadWorker"
timeout = 30
graceful_timeout = 20
keepalive = 5
# No control socket. gunicorn 25.1+ opens one for `gunicornc` (reload, stop, change the worker count) at one path per
# user, $XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl: a second `bridge serve` of the same user unlinks
# the first one's socket and takes the path over, so `gunicornc` would stop or reload the wrong instance, and the
# first one to exit deletes the other's. Bridge never uses it (`bridge serve` and systemd stop and reload by
# signals), and a path next to BRIDGE_DB could pass the 107-byte limit of a Unix socket path, so it is off.
# https://gunicorn.org/reference/settings/#control_socket_disable
control_socket_disable = True
accesslog = "-"
# %(U)s is the path without the query string: webhook URLs carry secret tokens in ?token=.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
# gunicorn logs the path URL-decoded, so `GET /x%0AINFO…` would write a forged line: its access and error
# logs go through the same escaping formatter as Bridge's own (bridge/logs.py).
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "escaped": {"()": "bridge.logs.TextFormatter", "format": "%(asctime)s [%(process)d] %(levelname)s %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "escaped", "stream": "ext://sys.stderr"},
        "stdout": {"class": "logging.StreamHandler", "formatter": "escaped", "stream": "ext://sys.stdout"},
        # The master's own records (worker supervision); create_app puts the same kind in each web worker.
        "bridge": {"()": "bridge.logs.bridge_handler", "log_format": _settings.log_format},
    },
    "root": {"level": _settings.log_level, "handlers": ["bridge"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
    },
}


def post_fork(server, worker):
    """In each web worker: end with the master, even when it is killed with -9, so no orphan keeps the port."""
    from bridge.supervisor import die_with_parent

    die_with_parent(server.pid, _signal.SIGKILL)  # SIGKILL: a graceful stop would hold the port for seconds
