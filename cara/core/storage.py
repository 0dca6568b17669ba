"""Where media bytes live: local disk under MEDIA_DIR, behind a small interface."""

import shutil
from pathlib import Path

from flask import current_app


def media_root() -> Path:
    return Path(current_app.config["MEDIA_DIR"])


def original_path(relative: str) -> Path:
    """Originals: instance/media/orig/<random>, mode 0600, never served."""
    return media_root() / "orig" / relative


def derivative_dir(media_id: int) -> Path:
    return media_root() / "d" / str(media_id)


def derivative_path(media_id: int, name: str) -> Path | None:
    """The file for a served name, or None if the name tries to leave the folder."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    return derivative_dir(media_id) / name


def delete_media_files(media_id: int, original_relative: str | None) -> None:
    shutil.rmtree(derivative_dir(media_id), ignore_errors=True)
    if original_relative:
        original_path(original_relative).unlink(missing_ok=True)


def read_original(relative: str) -> bytes:
    """The bytes of an uploaded original (for the owner's export)."""
    return original_path(relative).read_bytes()


def export_path(name: str) -> Path:
    """Export archives: instance/media/exports/<random>.zip, never served as static files."""
    return media_root() / "exports" / name
