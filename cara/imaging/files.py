"""Private file I/O: unguessable names for originals, atomic writes."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path


def random_name() -> str:
    """An unguessable file name for an original (144 random bits, URL-safe, no extension)."""
    return secrets.token_urlsafe(18)


def write_private(path: Path | str, data: bytes) -> None:
    """Write bytes readable by us only (0600), atomically: temp file, fsync, os.replace."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(path, data, mode=0o600, fsync=True)


def write_atomic(path: Path, data: bytes, *, mode: int, fsync: bool) -> None:
    """Write through a temp file in the same folder and os.replace: readers see the old
    bytes or the new, never a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
