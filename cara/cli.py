"""flask commands: users create / reset-link, demo, worker, sweep."""

import click
from flask import Flask, current_app
from sqlalchemy import select

from . import auth, tasks
from .extensions import db
from .models import Role, User


def register_cli(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(demo_command)
    app.cli.add_command(worker)
    app.cli.add_command(sweep_command)


@click.group(help="Manage accounts.")
def users():
    pass


@users.command("create")
@click.argument("username")
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), default="member")
def users_create(username, email, password, role):
    """Create an account (the same rules as the sign-up form)."""
    user, errors = auth.register(username, email, password, role=Role(role))
    if errors:
        for field, messages in errors.items():
            click.echo(f"{field}: {' '.join(messages)}", err=True)
        raise SystemExit(1)
    click.echo(f"Created {user.role.value} @{user.username}")


@users.command("reset-link")
@click.argument("username")
def users_reset_link(username):
    """Print a password reset link for an account."""
    user = db.session.scalar(select(User).where(User.username == username.lower()))
    if user is None:
        raise click.ClickException(f"No account named {username}")
    with current_app.test_request_context(base_url=current_app.config.get("BASE_URL")):
        click.echo(auth.reset_link(user))


@click.command("demo")
@click.option("--if-empty", is_flag=True, help="Only when the database has no accounts yet.")
def demo_command(if_empty):
    """Load demo artists and artworks (idempotent)."""
    from .demo import load_demo

    if if_empty and db.session.scalar(select(User.id).limit(1)) is not None:
        click.echo("The database has accounts: no demo content loaded.")
        return
    created = load_demo()
    click.echo(f"Demo content: {created} new posts." if created else "Demo content already loaded.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst):
    """Run an RQ worker for background jobs (needs REDIS_URL)."""
    if not current_app.config["REDIS_URL"]:
        raise click.ClickException("REDIS_URL is not set: jobs run inside the web process.")
    from rq import SimpleWorker

    conn = tasks.redis_connection()
    tasks.sweep()  # pick up whatever a dead worker or a Redis outage left behind
    # SimpleWorker runs jobs in this process, inside the app context, so models (the ONNX
    # classifier, the hash index) load once per worker rather than once per job.
    SimpleWorker([tasks.QUEUE_NAME], connection=conn).work(
        burst=burst, with_scheduler=True, logging_level="INFO"
    )


@click.command("sweep")
def sweep_command():
    """Re-enqueue media whose processing stopped (pending, or past its lease)."""
    click.echo(f"Re-enqueued {tasks.sweep()} images.")
