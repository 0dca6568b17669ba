"""CPU time per feed page in-process, as a ratio to the static page (run by hand: ~2 minutes).

    .venv/bin/python bench/feedcpu.py DIR [--posts 20000] [--profile /latest] [--database URL]

Builds bench/feed.py's database in DIR (once; later runs reuse it), or in the empty Postgres
database `--database postgresql+psycopg://...` (DIR then records that it was built), then
renders each page
through a test client: the static page in the layout, Latest logged out without the
microcache, and signed in Latest, a tag feed, Following and a search. Prints the median CPU
time of 3 interleaved rounds of 40 requests and its ratio to the static page: on a shared
machine, CPU time is steadier than wrk's throughput. `--profile PATH` prints a pyinstrument
profile of 100 signed-in requests of PATH instead (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NO_MICROCACHE = {"X-Bench-Microcache": "off"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--profile", metavar="PATH")
    parser.add_argument("--database", metavar="URL", help="an empty Postgres database")
    args = parser.parse_args()
    workdir = Path(args.dir)
    workdir.mkdir(parents=True, exist_ok=True)
    built = workdir / ("postgres-built" if args.database else "bench.sqlite")
    fresh = not built.exists()
    os.environ.update(
        {
            "DATABASE_URL": args.database or f"sqlite:///{built}",
            "CARA_MEDIA_DIR": str(workdir / "media"),
            "CARA_SECRET_KEY": "bench-secret-key-" + "x" * 32,
            "CARA_TASK_RUNNER": "inline",
            "CARA_RATELIMIT_ENABLED": "false",
            "CARA_RATELIMIT_STORAGE_URI": "memory://",
            "CARA_BENCH_STATIC_FILE": str(workdir / "static.html"),
        }
    )
    from bench import feed

    app = feed.make_app()
    if fresh:
        feed.populate(app, args.posts, 500)
        if args.database:
            built.write_text(args.database)
    logging.getLogger("cara.request").setLevel(logging.WARNING)
    anonymous, member = app.test_client(), app.test_client()
    (workdir / "static.html").write_bytes(anonymous.get("/latest").data)
    page = member.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    form = {"login": "artist0", "password": feed.PASSWORD}
    if token:
        form["csrf_token"] = token.group(1)
    assert member.post("/login", data=form).status_code in (302, 303)
    if args.profile:
        from pyinstrument import Profiler

        for _ in range(10):
            member.get(args.profile)
        with Profiler(interval=0.0002) as profiler:
            for _ in range(100):
                member.get(args.profile)
        print(profiler.output_text(color=False))
        return
    pages = {
        "static page in the layout": (anonymous, "/bench/static", {}),
        "Latest, no microcache": (anonymous, "/latest", NO_MICROCACHE),
        "Latest, signed in": (member, "/latest", {}),
        "tag feed, signed in": (member, "/tags/tag7", {}),
        "Following, signed in": (member, "/following", {}),
        "search, signed in": (member, "/search?q=dusk+ridge", {}),
    }
    for client, path, headers in pages.values():  # warm up, and check every page works
        for _ in range(10):
            assert client.get(path, headers=headers).status_code == 200
    rounds: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(3):
        for name, (client, path, headers) in pages.items():
            times = []
            for _ in range(40):
                started = time.process_time()
                client.get(path, headers=headers)
                times.append((time.process_time() - started) * 1000)
            rounds[name].append(statistics.median(times))
    static = statistics.median(rounds["static page in the layout"])
    print(f"{'page':<28}{'CPU ms':>8}{'static/page':>13}")
    for name, values in rounds.items():
        cpu = statistics.median(values)
        print(f"{name:<28}{cpu:>8.2f}{static / cpu:>13.2f}")


if __name__ == "__main__":
    main()
