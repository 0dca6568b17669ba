"""Page weight: fingerprinted static assets, compression, and the data saver.

- `asset_url("css/cara.css")` -> `/static/css/cara.css?v=<content hash>`. The static view answers
  with `Cache-Control: public, max-age=31536000, immutable` when `v` matches the file's current
  hash, and with `no-cache` + ETag otherwise (an old page never pins an old stylesheet).
- Text assets (CSS, JS, SVG...) are served precompressed: Brotli (quality 11) or gzip (level 9),
  compressed once per process and file version and then kept in memory. No build step and no
  files written, so a read-only deployment or a fresh clone works as is; behind a proxy the
  immutable responses are cached there too.
- HTML is compressed on the fly by Flask-Compress (Brotli or gzip); set
  `CARA_COMPRESS_REGISTER=false` when a proxy compresses instead.
- `data_saver()` (a Jinja global): the user's setting or the browser's `Save-Data: on` asks for the
  smallest images only; see templates/macros/media.html.

See docs/performance.md.
"""

import gzip
import hashlib
import logging
import mimetypes
import os
from functools import lru_cache

from flask import Flask, abort, current_app, has_request_context, request, send_file
from flask_login import current_user
from werkzeug.security import safe_join

try:  # Flask-Compress brings Brotli with it; without either, gzip alone is used.
    import brotli
except ImportError:  # pragma: no cover - depends on the installed packages
    brotli = None

log = logging.getLogger(__name__)

YEAR = 365 * 24 * 3600
IMMUTABLE = f"public, max-age={YEAR}, immutable"
# Served precompressed; everything else under static/ (icons...) is sent as it is.
COMPRESSIBLE = {".css", ".js", ".mjs", ".svg", ".json", ".txt", ".map", ".xml", ".webmanifest"}


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(asset_url=asset_url, data_saver=data_saver)
    if app.static_folder:
        # Same URL rule (/static/<path:filename>), our view: fingerprints and precompression.
        app.view_functions["static"] = _static
    _init_compression(app)

    @app.after_request
    def _vary_on_save_data(response):
        # Pages differ with the Save-Data header: shared caches must keep them apart.
        if response.mimetype == "text/html":
            response.vary.add("Save-Data")
        return response


def _init_compression(app: Flask) -> None:
    try:
        from flask_compress import Compress
    except ImportError:
        log.warning("Flask-Compress is not installed: HTML is sent uncompressed.")
        return
    # Brotli first (smaller), gzip for the rest; zstd/deflate add nothing at our page sizes.
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"] if brotli else ["gzip"])
    Compress(app)


def asset_url(filename: str) -> str:
    """URL of a file under static/, versioned by its content hash."""
    path = _static_path(filename)
    if path is None:
        # A missing asset is a bug in a template, but the page should still render.
        log.warning("asset_url: no static file %r", filename)
        return f"/static/{filename}"
    return f"/static/{filename}?v={_digest(path, _stamp(path))}"


def data_saver() -> bool:
    """Smallest images only: the signed-in user's setting, or `Save-Data: on` from the browser."""
    if not has_request_context():
        return False
    if request.headers.get("Save-Data", "").strip().lower() == "on":
        return True
    return bool(current_user.is_authenticated and current_user.data_saver)


def _static_path(filename: str) -> str | None:
    folder = current_app.static_folder
    path = safe_join(folder, filename) if folder else None
    return path if path and os.path.isfile(path) else None


def _stamp(path: str) -> tuple[int, int]:
    # Part of every cache key: an edited file (development) gets a new hash and new bodies.
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size


@lru_cache(maxsize=512)
def _digest(path: str, stamp: tuple[int, int]) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


@lru_cache(maxsize=512)
def _body(path: str, stamp: tuple[int, int], encoding: str) -> bytes:
    with open(path, "rb") as f:
        data = f.read()
    if encoding == "br":
        return brotli.compress(data, quality=11)
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=9, mtime=0)  # mtime 0: same bytes every time
    return data


def _encoding() -> str:
    """The best encoding this client accepts: br, then gzip, else identity."""
    accepted = request.accept_encodings
    offers = (["br"] if brotli else []) + ["gzip"]
    best = max(offers, key=lambda e: accepted.quality(e))
    return best if accepted.quality(best) > 0 else "identity"


def _static(filename: str):
    """Serve a static file: precompressed when it is text, immutable when fingerprinted."""
    path = _static_path(filename)
    if path is None:
        abort(404)
    stamp = _stamp(path)
    digest = _digest(path, stamp)
    if os.path.splitext(path)[1].lower() in COMPRESSIBLE:
        encoding = _encoding()
        mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        response = current_app.response_class(_body(path, stamp, encoding), mimetype=mimetype)
        if encoding != "identity":
            response.headers["Content-Encoding"] = encoding
        response.vary.add("Accept-Encoding")
        response.set_etag(f"{digest}-{encoding}")
        response = response.make_conditional(request)
    else:
        response = send_file(path, conditional=True, etag=digest)  # conditional, ranges
    response.headers["Cache-Control"] = IMMUTABLE if request.args.get("v") == digest else "no-cache"
    return response
