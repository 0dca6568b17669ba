"""Logs: JSON lines (time, level, logger, message, the request) in production, text in dev."""

import io
import json
import logging

import pytest

from cara.ops import logs


@pytest.fixture
def log_stream(app):
    """What our handler writes, from now on."""
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, logs._Handler)]
    stream = io.StringIO()
    handler.setStream(stream)
    yield stream
    handler.setStream(io.StringIO())


@pytest.mark.parametrize("app_config", [{"LOG_FORMAT": "json"}])
def test_json_lines_carry_the_request(client, log_stream):
    client.get("/no/such/page", headers={"X-Request-ID": "req-0123456789"})
    logging.getLogger("cara.test").warning("outside %s", "requests")
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    access = [e for e in lines if e["logger"] == "cara.request"]
    assert len(access) == 1
    assert access[0]["message"].startswith("GET /no/such/page 404 ")
    assert {k: access[0][k] for k in ("level", "request_id", "method", "path", "status")} == {
        "level": "INFO", "request_id": "req-0123456789", "method": "GET",
        "path": "/no/such/page", "status": 404,
    }  # fmt: skip
    assert access[0]["time"].endswith("+00:00")
    outside = lines[-1]
    assert outside["message"] == "outside requests" and "request_id" not in outside


@pytest.mark.parametrize("app_config", [{"LOG_FORMAT": "auto"}])
def test_development_logs_are_text(client, log_stream):
    client.get("/healthz")
    line = log_stream.getvalue().splitlines()[-1]
    assert " INFO cara.request: GET /healthz 200 " in line
    with pytest.raises(ValueError):
        json.loads(line)


def test_the_format_follows_production_unless_chosen():
    assert logs.use_json({"LOG_FORMAT": "auto", "PRODUCTION": True})
    assert not logs.use_json({"LOG_FORMAT": "auto", "PRODUCTION": False})
    assert not logs.use_json({"LOG_FORMAT": "text", "PRODUCTION": True})
    with pytest.raises(RuntimeError, match="LOG_FORMAT"):
        logs.use_json({"LOG_FORMAT": "yaml", "PRODUCTION": False})
