"""Entry point: `flask --app app ...` and `gunicorn app:app`."""

from cara import create_app

app = create_app()
