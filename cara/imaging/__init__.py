"""Images: upload validation, private originals, derivatives and the rights we embed in them.

Framework-free: no Flask, no database, no config reads. Limits and rights are passed in.
See docs/media.md for the policy (formats, limits, animation, metadata, protected images).

- ``containers``: the format sniffer and one segment/chunk walker per container.
- ``validate``: ``inspect_upload`` and its limits and errors.
- ``files``: unguessable names and atomic private writes for originals.
- ``render``: derivatives, AVIF, portfolio squares, placeholders, the work image.
- ``xmp``: the rights metadata (XMP, EXIF) written into every derivative.

The names below are the public API: ``from cara import imaging; imaging.inspect_upload(...)``.
"""

from cara.imaging.containers import ALLOWED_FORMATS, MIME_TYPES, sniff_format
from cara.imaging.files import random_name, write_private
from cara.imaging.render import (
    DEFAULT_JPEG_WIDTHS,
    DEFAULT_WIDTHS,
    PIPELINE_VERSION,
    SQUARE_SIDE,
    WORK_SIZE,
    Derivative,
    Rendition,
    avif_supported,
    derivative_name,
    load_oriented,
    make_avif,
    make_derivatives,
    make_square,
    rung_sizes,
    square_crop_box,
    truncated_ok,
)
from cara.imaging.validate import Limits, MediaError, UploadError, UploadInfo, inspect_upload
from cara.imaging.xmp import (
    DATA_MINING_VALUES,
    PLUS_VOCAB,
    Rights,
    build_xmp,
    data_mining_code,
    usage_terms,
)

__all__ = [
    "truncated_ok",
    "ALLOWED_FORMATS",
    "DATA_MINING_VALUES",
    "DEFAULT_JPEG_WIDTHS",
    "DEFAULT_WIDTHS",
    "Derivative",
    "Limits",
    "MIME_TYPES",
    "MediaError",
    "PIPELINE_VERSION",
    "PLUS_VOCAB",
    "Rendition",
    "Rights",
    "SQUARE_SIDE",
    "UploadError",
    "UploadInfo",
    "WORK_SIZE",
    "avif_supported",
    "build_xmp",
    "data_mining_code",
    "derivative_name",
    "inspect_upload",
    "load_oriented",
    "make_avif",
    "make_derivatives",
    "make_square",
    "random_name",
    "rung_sizes",
    "sniff_format",
    "square_crop_box",
    "usage_terms",
    "write_private",
]
