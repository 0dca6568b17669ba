"""Where media bytes live: local disk under MEDIA_DIR (the default) or an S3-compatible bucket
(`STORAGE = "s3"`, cara/core/storage_s3.py), behind the functions below.

Three kinds of file: originals (private, never served), derivatives (served under
content-versioned names after the app's policy checks) and appeal evidence (an original too).
A derivative is addressed by `(media_id, name, public)`: `public` says whether its name was made
for an image anyone may see. Local disk ignores it (every derivative is `d/<id>/<name>`, as
before); S3 keeps public derivatives under `pub/` so a public-read bucket policy can cover them
and nothing else.
"""

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from flask import Flask, Response, current_app, send_file

from cara.imaging import write_private

YEAR = 365 * 24 * 3600
PUBLIC_CACHE = f"public, max-age={YEAR}, immutable"
PRIVATE_CACHE = "private, no-store"
SERVE_MODES = ("app", "accel", "presigned", "public-url")
# The formats derivatives are written in, by file extension.
# A remote image's folder under remote/: a remote post's id, or "a<actor id>" for an avatar.
RemoteFolder = int | str
MIME = {"webp": "image/webp", "avif": "image/avif", "jpg": "image/jpeg", "png": "image/png"}


def cache_control(public: bool) -> str:
    """Public derivatives never change under their name; others must not stay in any cache."""
    return PUBLIC_CACHE if public else PRIVATE_CACHE


def safe_name(name: str) -> bool:
    """A derivative name that stays inside its folder (served names come from URLs)."""
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")


class LocalStorage:
    """instance/media: orig/<random> (0600, in a 0700 folder) and d/<media id>/<name>."""

    def __init__(self, app: Flask):
        self.accel_prefix = app.config["MEDIA_ACCEL_PREFIX"].rstrip("/")

    def save_original(self, relative: str, data: bytes) -> None:
        write_private(original_path(relative), data)

    @contextlib.contextmanager
    def original_file(self, relative: str) -> Iterator[Path]:
        yield original_path(relative)

    @contextlib.contextmanager
    def new_derivatives(self, media_id: int, public: bool) -> Iterator[Path]:
        # Written in place: imaging writes each file atomically (temp file + os.replace).
        yield derivative_dir(media_id)

    @contextlib.contextmanager
    def derivative_file(self, media_id: int, name: str, public: bool) -> Iterator[Path | None]:
        path = derivative_dir(media_id) / name
        yield path if path.is_file() else None

    def copy_derivative(self, media_id: int, old: str, new: str, public: bool) -> None:
        src, dst = derivative_dir(media_id) / old, derivative_dir(media_id) / new
        if dst.exists():
            return
        try:
            os.link(src, dst)  # the same bytes under a second name, nothing copied
        except OSError:  # a file system without hard links (or a racing copy: same bytes)
            shutil.copyfile(src, dst)

    def prune_derivatives(self, media_id: int, stem: str) -> None:
        folder = derivative_dir(media_id)
        for path in folder.iterdir() if folder.is_dir() else ():
            if not path.name.startswith(f"{stem}-"):
                path.unlink(missing_ok=True)

    def delete_derivatives(self, media_id: int, names: list[str], public: bool) -> None:
        for name in names:
            (derivative_dir(media_id) / name).unlink(missing_ok=True)

    def delete_media_files(self, media_id: int, original_relative: str | None) -> None:
        shutil.rmtree(derivative_dir(media_id), ignore_errors=True)
        if original_relative:
            original_path(original_relative).unlink(missing_ok=True)

    def send(self, media_id: int, name: str, public: bool, mimetype: str) -> Response | None:
        return self._send(f"d/{media_id}/{name}", mimetype)

    def _send(self, relative: str, mimetype: str) -> Response | None:
        path = media_root() / relative
        if not path.is_file():
            return None
        if current_app.config["MEDIA_SERVE"] == "accel":  # nginx sends the file (deploy/)
            response = Response(mimetype=mimetype)
            response.headers["X-Accel-Redirect"] = f"{self.accel_prefix}/{relative}"
            return response
        return send_file(path, mimetype=mimetype, conditional=True, etag=True)

    # Remote images (federation): our re-encoded copy, remote/<folder>/<name>.
    def save_remote(self, folder: RemoteFolder, path: Path) -> None:
        target = media_root() / "remote" / str(folder)
        target.mkdir(parents=True, exist_ok=True)
        os.replace(path, target / path.name)

    def send_remote(self, folder: RemoteFolder, name: str, mimetype: str) -> Response | None:
        return self._send(f"remote/{folder}/{name}", mimetype)

    @contextlib.contextmanager
    def remote_file(self, folder: RemoteFolder, name: str) -> Iterator[Path | None]:
        path = media_root() / "remote" / str(folder) / name
        yield path if path.is_file() else None

    def delete_remote_files(self, folder: RemoteFolder, names: list[str]) -> None:
        for name in names:
            (media_root() / "remote" / str(folder) / name).unlink(missing_ok=True)

    def delete_remote(self, folder: RemoteFolder) -> None:
        shutil.rmtree(media_root() / "remote" / str(folder), ignore_errors=True)


def init_app(app: Flask) -> None:
    """Choose the backend from config; refuse combinations that cannot work at start-up."""
    kind, serve = app.config["STORAGE"], app.config["MEDIA_SERVE"]
    if serve not in SERVE_MODES:
        raise RuntimeError(f"MEDIA_SERVE must be one of {', '.join(SERVE_MODES)}, not {serve!r}")
    if kind == "local":
        if serve in ("presigned", "public-url"):
            raise RuntimeError(f"MEDIA_SERVE={serve!r} needs STORAGE='s3'")
        app.extensions["cara.storage"] = LocalStorage(app)
    elif kind == "s3":
        from cara.core.storage_s3 import S3Storage

        if serve == "accel":
            raise RuntimeError(
                "MEDIA_SERVE='accel' serves local files: use it with STORAGE='local'"
            )
        app.extensions["cara.storage"] = S3Storage(app)
    else:
        raise RuntimeError(f"STORAGE must be 'local' or 's3', not {kind!r}")


def backend() -> LocalStorage:
    """The configured backend (S3Storage has the same methods)."""
    return current_app.extensions["cara.storage"]


# The local layout, for code and tests that look at the disk itself.
def media_root() -> Path:
    """MEDIA_DIR: local media (with S3 storage: only what stays local, such as exports)."""
    return Path(current_app.config["MEDIA_DIR"])


def original_path(relative: str) -> Path:
    """Originals: instance/media/orig/<random>, mode 0600, never served."""
    return media_root() / "orig" / relative


def derivative_dir(media_id: int) -> Path:
    return media_root() / "d" / str(media_id)


def save_original(relative: str, data: bytes) -> None:
    """Store an upload's bytes under its random name, private."""
    backend().save_original(relative, data)


def original_file(relative: str):
    """A context manager giving the original as a local file (S3: a temporary download)."""
    return backend().original_file(relative)


def original_bytes(relative: str) -> bytes:
    with original_file(relative) as path:
        return path.read_bytes()


def new_derivatives(media_id: int, public: bool):
    """A context manager giving the folder to write derivatives into; on a clean exit they
    are in place (S3: uploaded with their Content-Type and Cache-Control)."""
    return backend().new_derivatives(media_id, public)


def rendition_file(media_id: int, rendition: dict):
    """A context manager giving a stored derivative (an entry of Media.renditions) as a local
    file (S3: a temporary download), or None when it is missing."""
    return backend().derivative_file(media_id, rendition["name"], bool(rendition.get("pub")))


def copy_derivative(media_id: int, old: str, new: str, public: bool) -> None:
    """Store derivative `old` again as `new` (a name for `public`), same bytes."""
    backend().copy_derivative(media_id, old, new, public)


def prune_derivatives(media_id: int, stem: str) -> None:
    """Delete the media's derivatives not named `<stem>-...` (earlier versions)."""
    backend().prune_derivatives(media_id, stem)


def delete_derivatives(media_id: int, names: list[str], public: bool) -> None:
    """Delete these derivatives of the media (stored for `public`); missing files are fine."""
    backend().delete_derivatives(media_id, names, public)


def delete_media_files(media_id: int, original_relative: str | None) -> None:
    """Remove every derivative of the media and its original; missing files are fine."""
    backend().delete_media_files(media_id, original_relative)


def send(media_id: int, name: str, public: bool, mimetype: str) -> Response | None:
    """A response carrying the derivative (streamed, or handed to the proxy), None if missing."""
    return backend().send(media_id, name, public, mimetype) if safe_name(name) else None


def save_remote(folder: RemoteFolder, path: Path) -> None:
    """Keep a remote image as we re-encoded it (moved from `path`, a file of a temporary folder)."""
    backend().save_remote(folder, path)


def send_remote(folder: RemoteFolder, name: str, mimetype: str) -> Response | None:
    """The response for a remote post's image, None if there is no such file."""
    return backend().send_remote(folder, name, mimetype) if safe_name(name) else None


def remote_file(folder: RemoteFolder, name: str):
    """A context manager giving one kept remote image as a local file (S3: a temporary
    download), or None when it is missing or the name is not one of ours."""
    if not safe_name(name):
        return contextlib.nullcontext(None)
    return backend().remote_file(folder, name)


def delete_remote_files(folder: RemoteFolder, names: list[str]) -> None:
    backend().delete_remote_files(folder, [n for n in names if safe_name(n)])


def delete_remote(folder: RemoteFolder) -> None:
    backend().delete_remote(folder)


def redirect_cache_control() -> str:
    """How long a redirect to the bucket may be cached: a presigned URL expires."""
    config = current_app.config
    if config["MEDIA_SERVE"] == "public-url":
        return PUBLIC_CACHE
    return f"public, max-age={int(config['S3_PRESIGN_SECONDS']) // 2}"


def url(media_id: int, name: str) -> str:
    """Where a client may fetch a PUBLIC derivative itself (S3 with MEDIA_SERVE presigned or
    public-url; init_app refuses those modes for local disk). Never for a non-public image."""
    return backend().url(media_id, name)


def export_path(name: str) -> Path:
    """Export archives: MEDIA_DIR/exports/<random>.zip on local disk whatever the backend (an
    archive is built and downloaded on one machine), never served as static files."""
    return media_root() / "exports" / name
