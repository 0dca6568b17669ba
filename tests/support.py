"""Shared test helpers that need no app: where the real fixture images live."""

import csv
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# CI clones the repo next to a copy of shared/; CARA_SHARED_DIR overrides.
SHARED = Path(os.environ.get("CARA_SHARED_DIR", REPO.parent / "shared"))
AI_FILTER_FIXTURES = SHARED / "fixtures" / "ai-filter"


def fixture_manifest() -> list[dict[str, str]]:
    """Rows of MANIFEST.csv (file, label, signal, source, license, note)."""
    with open(AI_FILTER_FIXTURES / "MANIFEST.csv", newline="") as f:
        return list(csv.DictReader(f))
