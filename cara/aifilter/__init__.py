"""The AI-image filter: pure (no Flask, no database), called with plain values.

signals (Signal, Decision, decide), provenance (C2PA, XMP, generator metadata), classifier
(an optional ONNX model), analyze (all of them for one upload), hashindex (perceptual hashes
and their index) and hashlists (the shareable hash-list format).
"""
