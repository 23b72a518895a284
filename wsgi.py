"""Entry point for gunicorn: `gunicorn -c python:bridge.gunicorn_conf wsgi:app`."""

from bridge import create_app

app = create_app()
