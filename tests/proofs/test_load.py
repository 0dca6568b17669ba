"""Mixed load (issue 12): gunicorn with 4 workers and 2 job workers on the suite's database
(SQLite, or PostgreSQL when DATABASE_URL is set), visitors browsing, logging in, liking,
commenting and uploading for CARA_LOAD_SECONDS (default 120): no 5xx, no "database is locked"."""

import os
import random
import threading
import time

from cara.core.extensions import db
from tests.factories import image_bytes, make_post, person
from tests.proofs.stack import Visitor, percentile

SECONDS = float(os.environ.get("CARA_LOAD_SECONDS", "120"))
VISITORS = 6
PEOPLE = [f"reader{i}" for i in range(VISITORS)]


def _visit(base: str, n: int, posts: list[int], answers: list, stop: threading.Event) -> None:
    """One visitor's session: mostly reading, sometimes acting, now and then logging in again."""
    try:
        _browse(base, n, posts, answers, stop)
    except Exception as exc:  # the proof counts it, as a failed request
        answers.append(("crash", repr(exc), 599, 0.0))


def _browse(base: str, n: int, posts: list[int], answers: list, stop: threading.Event) -> None:
    rnd = random.Random(n)
    me = Visitor(base, answers)
    me.login(PEOPLE[n])
    pages = ["/", "/latest", "/trending", "/search?q=study", "/tags/ink", "/@artist", "/jobs"]
    uploads = 0
    while not stop.is_set():
        roll = rnd.random()
        post = rnd.choice(posts)
        if roll < 0.55:
            me.get(rnd.choice([*pages, f"/posts/{post}"]))
        elif roll < 0.7:
            me.submit(f"/posts/{post}", f"/posts/{post}/like")
        elif roll < 0.85:
            me.submit(f"/posts/{post}", f"/posts/{post}/comments", body=f"Lovely {rnd.random()}")
        elif roll < 0.93:
            me = Visitor(base, answers)  # a new browser logs in
            me.login(PEOPLE[n])
        else:
            uploads += 1
            image = image_bytes(size=(400, 300), color=(n * 40, uploads * 7 % 256, 120))
            posted = me.upload(image)
            if posted:
                posts.append(posted)


def test_mixed_load(app, services, figures):
    artist = person("artist")
    for name in PEOPLE:
        person(name)
    posts = [make_post(artist, f"A study {i}", tags=["ink"]).id for i in range(20)]
    database = db.engine.dialect.name
    services.start_web(workers=4)
    services.start_worker("worker-1")
    services.start_worker("worker-2")

    answers: list = []
    stop = threading.Event()
    visitors = [
        threading.Thread(target=_visit, args=(services.base, n, posts, answers, stop))
        for n in range(VISITORS)
    ]
    started = time.monotonic()
    for thread in visitors:
        thread.start()
    time.sleep(SECONDS)
    stop.set()
    for thread in visitors:
        thread.join(timeout=120)
    elapsed = time.monotonic() - started

    logs = services.logs()
    locked = logs.count("database is locked")
    errors = [a for a in answers if a[2] >= 500]
    times = [a[3] for a in answers]
    figures(
        f"mixed load ({database})",
        seconds=round(elapsed),
        requests=len(answers),
        per_second=round(len(answers) / elapsed, 1),
        http_4xx=sum(1 for a in answers if 400 <= a[2] < 500),
        http_5xx=len(errors),
        database_locked=locked,
        tracebacks=logs.count("Traceback"),
        p50_ms=round(percentile(times, 0.5) * 1000),
        p95_ms=round(percentile(times, 0.95) * 1000),
        posts_made=len(posts) - 20,
    )
    assert answers and not any(t.is_alive() for t in visitors)
    assert not errors, errors[:20]
    assert locked == 0, logs[-4000:]
