"""Images built for the imaging tests: real fixture photos, resized and encoded."""

import io

import numpy as np
from PIL import Image

from tests.support import AI_FILTER_FIXTURES

HUMAN = AI_FILTER_FIXTURES / "human"
# XMP namespaces our rights packet uses.
NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
    "plus": "http://ns.useplus.org/ldf/xmp/1.0/",
    "cc": "http://creativecommons.org/ns#",
    "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
}


def encode(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Photographic content: a real photo resized, plus sensor-like noise."""
    with Image.open(HUMAN / "pillow_xmp_test.jpg") as src:
        base = src.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    noise = np.random.default_rng(seed).integers(-8, 9, (height, width, 3), dtype=np.int16)
    arr = np.clip(np.asarray(base, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)
