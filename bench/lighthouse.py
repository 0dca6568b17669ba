"""Lighthouse (mobile) on home, a post and a profile (run by hand: 2-4 minutes).

    (cd bench && npm ci)      # once: Lighthouse from the npm registry into bench/node_modules
    .venv/bin/python bench/lighthouse.py [--runs 3] [--out test-artifacts/lighthouse]

Starts the app on a loopback port with bench/pageweight.py's seeded database (the demo's
paintings, 28 posts, and real photographs), then runs Lighthouse's default mobile preset
(a Moto G power-class phone, simulated slow 4G and 4x CPU slowdown) with Debian's Chromium
(CHROME_PATH, else CARA_CHROMIUM, else /usr/bin/chromium) on each page, and prints the four
category scores. With `--runs N` each page is measured N times and the median is printed beside
the runs (Performance varies with the machine's load). The JSON reports are kept in `--out`.
Exits 1 when a page misses the issue's targets (Performance, Accessibility, Best Practices
>= 95, SEO >= 90). See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from pageweight import serve  # bench/ is the script's folder

BENCH = Path(__file__).resolve().parent
LIGHTHOUSE = BENCH / "node_modules" / ".bin" / "lighthouse"
CATEGORIES = {
    "performance": "Performance",
    "accessibility": "Accessibility",
    "best-practices": "Best Practices",
    "seo": "SEO",
}
TARGETS = {"performance": 95, "accessibility": 95, "best-practices": 95, "seo": 90}


def run(url: str, report: Path, chrome: str) -> dict[str, int]:
    """One Lighthouse run: the category scores (0-100) of `url`."""
    subprocess.run(
        [
            str(LIGHTHOUSE),
            url,
            "--quiet",
            f"--only-categories={','.join(CATEGORIES)}",
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
            "--output=json",
            f"--output-path={report}",
        ],
        check=True,
        env={**os.environ, "CHROME_PATH": chrome},
        timeout=300,
    )
    data = json.loads(report.read_text())
    flagged = [
        a["id"]
        for c in ("seo", "best-practices", "accessibility")
        for ref in data["categories"][c]["auditRefs"]
        if ref["weight"] and (a := data["audits"][ref["id"]])["score"] not in (None, 1)
    ]
    if flagged:
        print(f"  {url}: audits not passed: {', '.join(sorted(set(flagged)))}", flush=True)
    return {c: round(data["categories"][c]["score"] * 100) for c in CATEGORIES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs per page (median printed)")
    parser.add_argument("--out", type=Path, default=BENCH.parent / "test-artifacts" / "lighthouse")
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        print(f"{LIGHTHOUSE} is missing: run `npm ci` in bench/", file=sys.stderr)
        return 2
    chrome = os.environ.get("CHROME_PATH") or os.environ.get("CARA_CHROMIUM") or "/usr/bin/chromium"
    args.out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="cara-lighthouse-"))
    try:
        import logging

        logging.disable(logging.INFO)
        server, base, pages = serve(folder)
        server.app.config["BASE_URL"] = base  # canonical and share links name this server
        pages = {name: pages[name] for name in ("home", "post", "profile")}
        results = {}
        for name, path in pages.items():
            results[name] = [
                run(base + path, args.out / f"{name}-{i + 1}.json", chrome)
                for i in range(args.runs)
            ]
        server.shutdown()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ok = True
    print(f"\nLighthouse mobile, {args.runs} run(s) a page (median; every run in brackets)")
    print(f"{'page':<8} {'path':<14}" + "".join(f"{label:>20}" for label in CATEGORIES.values()))
    for name, runs in results.items():
        cells = []
        for category in CATEGORIES:
            scores = [r[category] for r in runs]
            median = round(statistics.median(scores))
            ok &= median >= TARGETS[category]
            shown = f"{median}" + (f" {scores}" if len(scores) > 1 else "")
            cells.append(f"{shown:>20}")
        print(f"{name:<8} {pages[name]:<14}" + "".join(cells))
    targets = ", ".join(f"{CATEGORIES[c]} >= {t}" for c, t in TARGETS.items())
    print(f"\n{'PASS' if ok else 'FAIL'} ({targets}); reports in {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
