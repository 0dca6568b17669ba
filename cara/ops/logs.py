"""Logs: one JSON object per line in production (for journald, Loki, CloudWatch...), plain
text in development. LOG_FORMAT chooses: "json", "text" or "auto" (JSON when PRODUCTION)."""

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JSONFormatter(logging.Formatter):
    """time, level, logger, message, then what `fields()` adds (the request, when in one)."""

    def __init__(self, fields: Callable[[], dict]):
        super().__init__()
        self.fields = fields

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self.fields(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _Handler(logging.StreamHandler):
    """Ours, so that configuring again (another app in the same process) replaces only it."""


def use_json(config) -> bool:
    fmt = config["LOG_FORMAT"]
    if fmt not in ("auto", "json", "text"):
        raise RuntimeError(f'LOG_FORMAT must be "auto", "json" or "text", not {fmt!r}')
    return fmt == "json" or (fmt == "auto" and bool(config["PRODUCTION"]))


def configure(config, fields: Callable[[], dict]) -> None:
    """Send INFO and above to stderr, as JSON lines or text; `fields` adds request context."""
    handler = _Handler(sys.stderr)
    handler.setFormatter(JSONFormatter(fields) if use_json(config) else logging.Formatter(TEXT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
