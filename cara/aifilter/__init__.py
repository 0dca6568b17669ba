"""The AI-image filter: pure (no Flask, no database), called with plain values.

signals (Signal, Decision, decide), provenance (C2PA, XMP, generator metadata), classifier
(an optional ONNX model), analyze (all of them for one upload), hashindex (perceptual hashes
and their index) and hashlists (the shareable hash-list format).
"""

import logging

# faiss's loader tries its AVX512 and AVX2 builds first and logs each miss, with the
# ModuleNotFoundError, at INFO: noise on every start-up of a process logging at INFO. Its
# warnings and errors (no build loads at all) still get through.
logging.getLogger("faiss.loader").setLevel(logging.WARNING)
