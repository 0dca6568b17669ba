"""flask commands: users create / reset-link, demo, worker, sweep, filter check, hashes."""

from pathlib import Path

import click
from flask import Flask, current_app
from PIL import Image
from sqlalchemy import select

from cara import optout
from cara.accounts import auth
from cara.core import tasks
from cara.core.extensions import db
from cara.core.models import Role, User
from cara.posting import screening


def register_cli(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(demo_command)
    app.cli.add_command(worker)
    app.cli.add_command(sweep_command)
    app.cli.add_command(filter_group)
    app.cli.add_command(hashes_group)
    app.cli.add_command(crawlers_group)


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
    click.echo(auth.reset_link(user))


@click.command("demo")
@click.option("--if-empty", is_flag=True, help="Only when the database has no accounts yet.")
def demo_command(if_empty):
    """Load demo artists and artworks (idempotent)."""
    from cara.demo import load_demo

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
    conn = tasks.redis_connection()
    # Pick up whatever a dead worker or a Redis outage left behind, now and every minute.
    tasks.sweep_periodically(current_app._get_current_object())
    tasks.Worker([tasks.QUEUE_NAME, tasks.LOW_QUEUE_NAME], connection=conn).work(
        burst=burst, with_scheduler=True, logging_level="INFO"
    )


@click.command("sweep")
def sweep_command():
    """Re-enqueue media whose processing stopped (pending, or past its lease)."""
    click.echo(f"Re-enqueued {tasks.sweep()} images.")


@click.group("filter", help="The AI-image filter.")
def filter_group():
    pass


@filter_group.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--model", type=click.Path(exists=True, dir_okay=False), help="Try this ONNX model.")
@click.option("--sidecar", type=click.Path(dir_okay=False), help="Its JSON (default: MODEL.json).")
def filter_check(files, model, sidecar):
    """Print each file's signals and the decision, as an upload would get them now."""
    from cara.aifilter.classifier import ClassifierError
    from cara.posting import known

    try:
        if model:
            model = Path(model)
            sidecar = Path(sidecar) if sidecar else model.with_suffix(".json")
            classifier = screening.load_classifier(model, sidecar)
        else:
            classifier = screening.classifier()
    except ClassifierError as exc:
        raise click.ClickException(str(exc)) from None
    status = f"{classifier.name}" if classifier else screening.classifier_status()
    click.echo(f"classifier: {status}")
    unreadable = 0
    for name in files:
        data = Path(name).read_bytes()
        try:
            work = known.load_work_image(name)
        except (ValueError, OSError, Image.DecompressionBombError) as exc:
            work, unreadable = None, unreadable + 1  # provenance is still read from the bytes
            click.echo(f"{name}: not a decodable image ({exc}); no hashes, no classifier")
        signals, verdict = screening.judge(data, work, classifier)
        click.echo(name)
        for s in signals:
            click.echo(f"  {s.name:<24} {s.verdict:<7} {s.score:4.2f}  {s.evidence}")
        if not signals:
            click.echo("  no signals")
        click.echo(f"  decision: {verdict.decision}")
    if unreadable:
        raise SystemExit(1)


@click.group("hashes", help="Known-image hash lists (docs/hash-lists.md).")
def hashes_group():
    pass


FORMAT = click.Choice(["csv", "json"])


@hashes_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=FORMAT, help="Default: from the file name (.json, else CSV).")
@click.option("--untrusted", is_flag=True, help="Matches hold posts for review, never reject.")
@click.option("--note", default="", help="Where the list comes from; kept with every hash.")
def hashes_import(file, fmt, untrusted, note):
    """Add a hash list to the known-AI hashes, all or nothing."""
    from cara.aifilter import hashindex
    from cara.posting import known

    try:
        count = known.import_list(
            Path(file).read_bytes(), file, fmt, trusted=not untrusted, note=note
        )
    except hashindex.HashListError as exc:
        click.echo(f"{file}: {exc}. Nothing was imported.", err=True)
        raise SystemExit(1) from None
    click.echo(f"Imported {count} {'untrusted' if untrusted else 'trusted'} hashes from {file}.")


@hashes_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, allow_dash=True))
@click.option("--format", "fmt", type=FORMAT, help="Default: from the file name (.json, else CSV).")
def hashes_export(file, fmt):
    """Write the trusted known-AI hashes to FILE ("-" for standard output)."""
    from cara.posting import known

    text, count = known.export_list(known.list_format(file, fmt))
    with click.open_file(file, "w", encoding="utf-8") as out:
        out.write(text)
    click.echo(f"Exported {count} hashes.", err=True)


@click.group("crawlers", help="The AI crawler list (robots.txt and the 403).")
def crawlers_group():
    pass


@crawlers_group.command("update")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def crawlers_update(file):
    """Install a newer robots.json from the ai.robots.txt project as this instance's list."""
    try:
        added, removed = optout.update_upstream(
            file.read_text(encoding="utf-8"), current_app.instance_path
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: {exc}. Nothing was changed.") from None
    blocked = len(optout.crawler_tokens(current_app.instance_path))
    click.echo(f"Wrote {Path(current_app.instance_path) / optout.INSTANCE_UPSTREAM}.")
    click.echo(f"Added ({len(added)}): {', '.join(added) or '-'}")
    click.echo(f"Removed ({len(removed)}): {', '.join(removed) or '-'}")
    click.echo(f"{blocked} user agents are disallowed in robots.txt and get 403.")
