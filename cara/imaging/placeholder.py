"""BlurHash (https://blurha.sh): a ~30-character blurred preview of an image, which fediverse
apps (Mastodon, Pixelfed, Ivory...) paint while the image loads. Pure: Pillow in, text out."""

import blurhash as _blurhash
import numpy as np
from PIL import Image

SIDE = 32  # the preview is a few colour gradients: 32 px carry all of it (~4 ms to encode)
COMPONENTS = (4, 4)  # Mastodon's (BLURHASH_OPTIONS in its media attachment model)


def blurhash(image: Image.Image) -> str:
    """The BlurHash of an image (any mode; alpha is dropped)."""
    small = image.copy()
    small.thumbnail((SIDE, SIDE), Image.Resampling.BOX)
    return _blurhash.encode(np.asarray(small.convert("RGB")), *COMPONENTS)
