"""The shared AI-hash feed's size and cost (run by hand, well under a minute).

    .venv/bin/python bench/hashfeed.py [--images 20]

Confirms N distinct pictures (tests.factories.canvas, 768x576 px so they have local features)
as AI on a throwaway SQLite instance, then measures one full feed page (20 entries): its size
in bytes (against FEDERATION_MAX_BYTES, the most a reader takes), the time to build and sign
it, to verify it as a subscriber does, and to store its entries as a subscription's rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20)
    args = parser.parse_args()

    from cara.core.extensions import db
    from cara.core.models import HashSubscription
    from cara.federation import hashfeed
    from tests import factories

    with factories.feed_instance(Path(tempfile.mkdtemp())) as app:
        factories.confirmed_as_ai(
            [
                factories.pixels_only(factories.canvas(size=(768, 576), seed=seed))
                for seed in range(args.images)
            ]
        )

        builds, verifies = [], []
        for _ in range(5):
            t = time.perf_counter()
            doc = hashfeed.page(0)
            builds.append(time.perf_counter() - t)
        body = json.dumps(doc).encode()
        key = hashfeed.instance_key().public_pem
        feed = app.config["BASE_URL"].rstrip("/") + hashfeed.PATH
        for _ in range(5):
            t = time.perf_counter()
            hashfeed.verify(json.loads(body), key, feed, "")
            verifies.append(time.perf_counter() - t)
        url = "http://peer.example/federation/hashes"
        sub = HashSubscription(url=url, key_id="", public_pem="")
        db.session.add(sub)
        db.session.commit()
        t = time.perf_counter()
        rows = sum(hashfeed._apply(sub, e, i) for i, e in enumerate(doc["entries"], 1))
        db.session.commit()
        store = time.perf_counter() - t

        entries = doc["entries"]
        with_features = sum(1 for e in entries if e.get("features"))
        limit = app.config["FEDERATION_MAX_BYTES"]
        print(f"entries on the page: {len(entries)} ({with_features} with local features)")
        print(f"hash rows per image: {statistics.median(len(e['hashes']) for e in entries)}")
        print(f"page size: {len(body):,} bytes ({len(body) / limit:.0%} of {limit:,})")
        print(f"per entry: {len(body) / max(1, len(entries)):,.0f} bytes")
        print(f"build + sign: {statistics.median(builds) * 1000:.1f} ms (median of 5)")
        print(f"verify: {statistics.median(verifies) * 1000:.1f} ms (median of 5)")
        print(f"store {rows} rows as a subscription's: {store * 1000:.0f} ms")


if __name__ == "__main__":
    main()
