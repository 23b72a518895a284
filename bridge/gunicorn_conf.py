"""Gunicorn settings for production and for `bridge serve`: `gunicorn -c python:bridge.gunicorn_conf wsgi:app`."""

import os

bind = os.environ.get("BRIDGE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("BRIDGE_WEB_WORKERS", "2"))
threads = int(os.environ.get("BRIDGE_WEB_THREADS", "4"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# %(U)s is the path without the query string: webhook URLs carry secret tokens in ?token=.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
