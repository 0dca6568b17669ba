"""flask commands: users create / reset-link, demo, worker, sweep, filter check, hashes,
backup and restore."""

import functools
from pathlib import Path

import click
from flask import Flask, current_app
from PIL import Image
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import OperationalError

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

    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)


def schema_problem() -> str | None:
    """Why the database cannot serve this code yet (never migrated, migrated by older or
    newer code, unreachable), or None when its schema is the migrations' head."""
    from alembic.script import ScriptDirectory

    upgrade = "run `flask --app app db upgrade`"
    try:  # read directly: alembic's MigrationContext logs two INFO lines on every use
        with db.engine.connect() as conn:
            migrated = inspect(conn).has_table("alembic_version")
            rows = conn.execute(text("SELECT version_num FROM alembic_version")) if migrated else []
            current = {row[0] for row in rows}
    except OperationalError as exc:
        return f"cannot reach the database: {exc.orig}"
    scripts = ScriptDirectory(current_app.extensions["migrate"].directory)
    heads = set(scripts.get_heads())
    if not current:
        return f"the database is not migrated: {upgrade}"
    if current == heads:
        return None
    known = {rev.revision for rev in scripts.walk_revisions()}
    revision = ", ".join(sorted(current))
    if current <= known:
        return f"the database is behind this code (revision {revision}): {upgrade}"
    return (
        f"the database is at revision {revision}, which this code does not know: "
        "it was migrated by a newer version of cara"
    )


def needs_schema(command):
    """Run the command only on a database migrated to this code's schema; otherwise one line
    saying what to do (and exit 1), not a stack trace about a missing table."""

    @functools.wraps(command)
    def checked(*args, **kwargs):
        problem = schema_problem()
        if problem:
            raise click.ClickException(problem)
        return command(*args, **kwargs)

    return checked


class SchemaGroup(click.Group):
    """A command group whose every command needs the migrated schema (`needs_schema`); the
    check runs in the command, so `--help` works on any database."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.callback = needs_schema(cmd.callback)
        super().add_command(cmd, name)


@click.group(help="Manage accounts.", cls=SchemaGroup)
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
@needs_schema
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
    """Run an RQ worker for background jobs (needs REDIS_URL), with RQ's scheduler for
    delayed retries and the periodic sweep."""

    if not current_app.config["REDIS_URL"]:
        raise click.ClickException("REDIS_URL is not set: jobs run inside the web process.")
    conn = tasks.redis_connection()
    tasks.wait_for_redis(conn)
    warning = tasks.redis_eviction_warning(conn)
    if warning:
        current_app.logger.warning(warning)
    # Warm before the loop: the first job should not pay for loading, and a broken model is
    # reported at start rather than on the first upload.
    click.echo(f"classifier: {screening.classifier_status()}")
    _warm_up()
    # Pick up whatever a dead worker or a Redis outage left behind, now and every sweep.
    tasks.sweep_periodically(current_app._get_current_object())
    # Maintenance every minute, not RQ's 10: it also restarts the scheduler thread, which after
    # a killed worker waits for the dead one's lock to lapse (61 s).
    queues = [tasks.QUEUE_NAME, tasks.LOW_QUEUE_NAME]
    tasks.Worker(queues, connection=conn, maintenance_interval=60).work(
        burst=burst, with_scheduler=True, logging_level="INFO"
    )


def _warm_up() -> None:
    """Run one small image through every codec and the known-hash index, so that libaom,
    libwebp and the index (read from the database) are loaded before the first real job."""
    import tempfile

    from cara import imaging
    from cara.posting import known

    with tempfile.TemporaryDirectory() as folder:
        original = Path(folder) / "warm.png"
        Image.radial_gradient("L").convert("RGB").resize((700, 500)).save(original)
        rendition = imaging.make_derivatives(original, Path(folder), "warm-1")
        imaging.make_avif(original, Path(folder), "warm-1")
    known.signals_for(rendition.work_image)
    db.session.remove()


@click.command("sweep")
@needs_schema
def sweep_command():
    """Re-enqueue media whose processing stopped (pending, or past its lease)."""
    click.echo(f"Re-enqueued {tasks.sweep()} images.")


@click.group("filter", help="The AI-image filter.", cls=SchemaGroup)
def filter_group():
    pass


def _classifier(model, sidecar):
    """The classifier to try: MODEL (and its sidecar) when given, else the configured one."""
    from cara.aifilter.classifier import ClassifierError

    try:
        if model:
            model = Path(model)
            return screening.load_classifier(
                model, Path(sidecar) if sidecar else model.with_suffix(".json")
            )
        return screening.classifier()
    except ClassifierError as exc:
        raise click.ClickException(str(exc)) from None


MODEL = click.option(
    "--model", type=click.Path(exists=True, dir_okay=False), help="Try this ONNX model."
)
SIDECAR = click.option(
    "--sidecar", type=click.Path(dir_okay=False), help="Its JSON (default: MODEL.json)."
)


@filter_group.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@MODEL
@SIDECAR
def filter_check(files, model, sidecar):
    """Print each file's signals and the decision, as an upload would get them now."""
    classifier = _classifier(model, sidecar)
    click.echo(f"classifier: {classifier.name if classifier else screening.classifier_status()}")
    unreadable = 0
    for name in files:
        signals, verdict, why = screening.judge_file(Path(name), classifier)
        if why is not None:
            unreadable += 1
            click.echo(f"{name}: not a decodable image ({why}); no hashes, no classifier")
        click.echo(name)
        for s in signals:
            click.echo(f"  {s.name:<24} {s.verdict:<7} {s.score:4.2f}  {s.evidence}")
        if not signals:
            click.echo("  no signals")
        click.echo(f"  decision: {verdict.decision}")
    if unreadable:
        raise SystemExit(1)


def _labelled(folder: Path, labels: Path) -> list[tuple[Path, str]]:
    """(file, "ai"/"human") from a CSV with `file` and `label` columns, files relative to
    FOLDER; a row naming a missing file or another label is an error."""
    try:
        rows = screening.read_labels(labels.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{labels}: {exc}") from None
    out = []
    for line, (name, label) in enumerate(rows, start=2):
        if not (folder / name).is_file():
            raise click.ClickException(f"{labels}:{line}: no file {folder / name}")
        out.append((folder / name, label))
    return out


@filter_group.command("evaluate")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--labels",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="CSV: file,label (ai or human).",
)
@MODEL
@SIDECAR
def filter_evaluate(folder, labels, model, sidecar):
    """Measure the filter on labelled files: confusion matrix, signals, every mistake."""
    classifier = _classifier(model, sidecar)
    result = screening.evaluate(_labelled(Path(folder), Path(labels)), classifier)
    c = result.confusion
    click.echo(f"classifier: {classifier.name if classifier else screening.classifier_status()}")
    click.echo(f"{'':>14} {'held/rejected':>14} {'published':>10}")
    for label in ("ai", "human"):
        click.echo(f"{label + ' files':>14} {c[(label, 'ai')]:>14} {c[(label, 'human')]:>10}")
    click.echo(
        f"AI caught: {result.shown_rate('ai')}   human art published: {result.shown_rate('human')}"
    )
    click.echo("AI signals fired (on ai / human files):")
    for name, counts in sorted(result.signals.items()):
        click.echo(f"  {name:<24} {counts['ai']:>5} / {counts['human']}")
    for path, why in result.unreadable:
        click.echo(f"unreadable (provenance only): {path}: {why}")
    click.echo(f"misclassified: {len(result.wrong)}")
    for path, label, decision, evidence in result.wrong:
        click.echo(f"  {path}: {label} file, decision {decision}: {evidence}")


@filter_group.command("reindex")
def filter_reindex():
    """Compute the local features (second matching stage) of known AI images that lack them
    (e.g. confirmed before it existed), from their stored images; safe to run again."""
    from cara.posting import known, local_features

    if not local_features.enabled():
        raise click.ClickException("the second stage is off (FILTER_LOCAL_FEATURES)")
    done = known.reindex_features()
    small = f", {done.small} skipped (too small)" if done.small else ""
    click.echo(
        f"Local features of known AI images: {done.added} added, {done.missing} skipped "
        f"(no original), {done.present} already present{small}. Workers use them from "
        "their next lookup."
    )


def _folders(label: str):
    """`--ai DIR` / `--human DIR`, repeatable, collected as `ai_dirs` / `human_dirs`."""
    return click.option(
        f"--{label}",
        f"{label}_dirs",
        multiple=True,
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help=f"A folder of {label.upper() if label == 'ai' else label} images (repeatable).",
    )


@filter_group.command("train")
@click.option(
    "--encoder",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="ONNX image encoder (e.g. a CLIP image tower); ENCODER.json: its preprocessing.",
)
@_folders("ai")
@_folders("human")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Model to write (default: instance/classifier.onnx); its sidecar goes beside it.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="Hold threshold to measure and write (default: the filter's).",
)
def filter_train(encoder, ai_dirs, human_dirs, out, threshold):
    """Fit a classifier head on the encoder's embeddings of this site's moderation decisions
    (and labelled folders); print cross-validated precision/recall; write encoder + head."""
    import json

    import numpy as np

    from cara.aifilter import train
    from cara.aifilter.classifier import ClassifierError
    from cara.aifilter.signals import Thresholds

    threshold = threshold or Thresholds().classifier_hold
    out = out or Path(current_app.instance_path) / "classifier.onnx"
    try:
        enc = train.load_encoder(encoder)
        images, labels, unreadable = screening.training_images(
            {"ai": list(ai_dirs), "human": list(human_dirs)}
        )
        for name in unreadable:
            click.echo(f"skipped (not a decodable image): {name}", err=True)
        emb = train.embed(enc, images)
        y = np.array(labels, int)
        report = train.cross_validate(emb, y, threshold)
        head = train.fit(emb, y)
        out.parent.mkdir(parents=True, exist_ok=True)
        train.merge(encoder, enc, head, out)
    except ClassifierError as exc:
        raise click.ClickException(str(exc)) from None
    side = out.with_suffix(".json")
    side.write_text(json.dumps(train.sidecar(enc, report, out.stem), indent=2) + "\n")
    click.echo(
        f"{report.n_ai} AI and {report.n_human} human images, {report.folds}-fold "
        f"cross-validation at hold threshold {report.threshold:.2f}:"
    )
    click.echo(
        f"  precision {report.precision:.3f}  recall {report.recall:.3f}  "
        f"human images held {report.human_held:.3f}"
    )
    click.echo(f"Wrote {out} and {side}.")
    click.echo(
        "It only ever holds images for review. To use it, set CLASSIFIER_MODEL to it and "
        "restart the workers; try it first with `flask filter evaluate --model`."
    )


@click.group("hashes", help="Known-image hash lists (docs/hash-lists.md).", cls=SchemaGroup)
def hashes_group():
    pass


FORMAT = click.Choice(["csv", "json"])


@hashes_group.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--untrusted", is_flag=True, help="Matches hold posts for review, never reject.")
@click.option("--note", default="", help="Where the images come from; kept with every hash.")
def hashes_add(files, untrusted, note):
    """Register image files as known AI images (what a moderator's confirm does)."""
    from cara.posting import known

    total = 0
    for name in files:
        try:
            rows = known.list_file(Path(name), trusted=not untrusted, note=note)
        except (ValueError, OSError, Image.DecompressionBombError) as exc:
            db.session.rollback()
            raise click.ClickException(
                f"{name}: not a decodable image ({exc}); nothing was added"
            ) from None
        if not rows:
            click.echo(f"{name}: too small to hash; skipped", err=True)
        total += rows
    db.session.commit()
    kind = "untrusted" if untrusted else "trusted"
    click.echo(f"Added {total} {kind} hashes from {len(files)} files.")


@hashes_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=FORMAT, help="Default: from the file name (.json, else CSV).")
@click.option("--untrusted", is_flag=True, help="Matches hold posts for review, never reject.")
@click.option("--note", default="", help="Where the list comes from; kept with every hash.")
def hashes_import(file, fmt, untrusted, note):
    """Add a hash list to the known-AI hashes, all or nothing."""
    from cara import moderation
    from cara.aifilter import hashindex

    try:
        count = moderation.import_hashes(
            Path(file).read_bytes(), file, fmt, trusted=not untrusted, note=note, who=None
        )
    except hashindex.HashListError as exc:
        click.echo(f"{file}: {exc}. Nothing was imported.", err=True)
        raise SystemExit(1) from None
    click.echo(f"Imported {count} {'untrusted' if untrusted else 'trusted'} hashes from {file}.")


@hashes_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, allow_dash=True))
@click.option("--format", "fmt", type=FORMAT, help="Default: from the file name (.json, else CSV).")
@click.option(
    "--include-pulled",
    is_flag=True,
    help="Also the trusted hashes of subscribed and imported lists (default: only this "
    "site's moderators' and admins').",
)
def hashes_export(file, fmt, include_pulled):
    """Write the trusted known-AI hashes this site confirmed to FILE ("-" for standard output)."""
    from cara.posting import known

    text, count = known.export_list(known.list_format(file, fmt), include_pulled=include_pulled)
    with click.open_file(file, "w", encoding="utf-8") as out:
        out.write(text)
    click.echo(f"Exported {count} hashes.", err=True)


@hashes_group.command("subscribe")
@click.argument("address")
@click.option("--untrusted", is_flag=True, help="Matches hold posts for review, never reject.")
def hashes_subscribe(address, untrusted):
    """Subscribe to another instance's shared AI-hash list (e.g. https://art.example)."""
    from cara import federation
    from cara.federation import hashfeed

    if not federation.enabled():
        raise click.ClickException("federation is off: lists are pulled over federation")
    sub, error = hashfeed.subscribe(address, trusted=not untrusted)
    if error:
        raise click.ClickException(error)
    kind = "trusted" if sub.trusted else "untrusted"
    click.echo(f"Subscribed to {sub.url} ({kind}); {sub.error or 'first pull enqueued'}.")


@hashes_group.command("unsubscribe")
@click.argument("address")
def hashes_unsubscribe(address):
    """Stop pulling a shared list and remove every hash it brought."""
    from cara.federation import hashfeed

    sub = hashfeed.by_address(address)
    if sub is None:
        raise click.ClickException(f"not subscribed to {address}")
    url = sub.url
    removed = hashfeed.unsubscribe(sub)
    click.echo(f"Unsubscribed from {url}; removed {removed} hashes.")


@hashes_group.command("trust")
@click.argument("address")
@click.option("--untrusted", is_flag=True, help="Matches hold posts for review, never reject.")
def hashes_trust(address, untrusted):
    """Change a subscribed list's trust: its matches reject (default) or hold (--untrusted)."""
    from cara.federation import hashfeed

    sub = hashfeed.by_address(address)
    if sub is None:
        raise click.ClickException(f"not subscribed to {address}")
    hashfeed.set_trust(sub, not untrusted)
    click.echo(f"{sub.url} is now {'untrusted' if untrusted else 'trusted'}.")


@hashes_group.command("subscriptions")
def hashes_subscriptions():
    """List the shared lists this instance pulls."""
    from cara.federation import hashfeed
    from cara.posting import known

    counts = known.shared_counts()
    for sub in hashfeed.subscriptions():
        kind = "trusted" if sub.trusted else "untrusted"
        when = sub.last_pull_at
        pulled = (
            f"{when.isoformat(timespec='seconds')}, {sub.last_pull_count} added"
            if when
            else "never"
        )
        error = f" error: {sub.error}" if sub.error else ""
        click.echo(f"{sub.url}\t{kind}\t{counts.get(sub.id, 0)} hashes\tpulled {pulled}{error}")


@hashes_group.command("rotate-key")
def hashes_rotate_key():
    """Give this instance's shared list a new signing key, announced by the old one."""
    from cara.federation import hashfeed

    key = hashfeed.rotate_key()
    click.echo(
        f"New feed key {hashfeed.key_digest(key.public_pem)[:16]}; the old key signed its "
        "announcement, so subscribers re-pin it on their next pull."
    )


@hashes_group.command("pull")
def hashes_pull():
    """Pull every subscribed list now (the worker does it every FEDERATION_HASH_PULL_SECONDS)."""
    from cara.federation import hashfeed

    failed = False
    for sub in hashfeed.subscriptions():
        url = sub.url
        outcome = hashfeed.pull(sub)
        if outcome.error:
            failed = True
            click.echo(f"{url}: {outcome.error}", err=True)
            continue
        click.echo(f"{url}: {outcome.added} hashes added.")
    if failed:
        raise SystemExit(1)


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


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
def backup_command(dest):
    """Back up the database and the media into DEST (a new or empty folder), with a manifest
    of checksums. Safe while the site runs."""
    from cara.ops import backup

    try:
        manifest = backup.backup(dest)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    size = sum(f["size"] for f in manifest.files)
    click.echo(f"Backed up the {manifest.kind} database (revision {manifest.revision}) and "
               f"{len(manifest.files) - 1} media files, {size:,} bytes, into {dest}.")  # fmt: skip


@click.command("restore")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that holds data.")
def restore_command(src, force):
    """Restore a backup made by `backup`: checks every checksum first and refuses a damaged
    backup, or a database that holds data (without --force), touching nothing."""
    from cara.ops import backup

    try:
        manifest = backup.restore(src, force=force)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Restored the backup of {manifest.created_at} (revision {manifest.revision}). "
               "Run `flask --app app db upgrade` if this code is newer.")  # fmt: skip
