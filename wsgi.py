"""The WSGI entry point: ``gunicorn`` (see gunicorn.conf.py) serves ``wsgi:app``."""

from webapp import create_app

app = create_app()
