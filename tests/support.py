"""Shared test helpers that need no app (the benchmarks use them too): where the real fixture
images live, required services, a throwaway PostgreSQL database or redis-server, a tiny ONNX
classifier."""

import csv
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# Real images in the repository: sources and licences in its README.md and MANIFEST.csv.
AI_FILTER_FIXTURES = REPO / "tests" / "fixtures" / "ai-filter"

IN_CI = os.environ.get("CI") == "true"
REDIS_URL = os.environ.get("CARA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_service(name: str, reason: str):
    """Skip with a printed reason, or fail under CI where every service must be present."""
    if IN_CI:
        pytest.fail(f"{name} is required in CI: {reason}")
    pytest.skip(f"{name} not available: {reason}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_alive(pgid: int) -> bool:
    """Whether any process of the process group `pgid` still lives."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class RedisServer:
    """A throwaway redis-server on its own port (no persistence) that a test can stop and start
    again on the same port."""

    def __init__(self):
        if shutil.which("redis-server") is None:
            require_service("redis-server", "install it (Debian: redis-server) to run this test")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        args = ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not listen on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def empty_redis() -> str:
    """REDIS_URL, flushed (the tests' own database number); skip or fail when unreachable."""
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except RedisError as exc:
        require_service("Redis", f"{REDIS_URL}: {exc}")
    Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


def fixture_manifest() -> list[dict[str, str]]:
    """Rows of MANIFEST.csv (file, label, signal, source, license, note)."""
    with open(AI_FILTER_FIXTURES / "MANIFEST.csv", newline="") as f:
        return list(csv.DictReader(f))


def fresh_postgres(url: str, prefix: str):
    """Create a new database next to the one `url` names; return (its URL, a drop function).

    Tests and benchmarks use it so they never touch the database DATABASE_URL points at.
    """
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url.replace("postgres://", "postgresql://", 1)).set(
        drivername="postgresql+psycopg"
    )
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return parsed.set(database=name).render_as_string(hide_password=False), drop


# Mean colour (R, G, B) of the normalised input -> 2 logits. Red pushes toward "ai" (index 1).
WEIGHTS = np.array([[-1.0, 2.0], [0.5, -0.5], [0.3, 0.1]], dtype=np.float32)
BIAS = np.array([0.1, -0.2], dtype=np.float32)


def build_tiny_model(
    path: Path,
    *,
    layout: str = "NCHW",
    size: tuple[int, int] = (8, 12),
    dynamic_batch: bool = True,
    input_name: str = "pixel_values",
) -> Path:
    """An ONNX graph that averages the image per channel, then a fixed linear layer."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h, w = size
    batch: int | str = "batch" if dynamic_batch else 1
    shape = [batch, 3, h, w] if layout == "NCHW" else [batch, h, w, 3]
    axes = [2, 3] if layout == "NCHW" else [1, 2]
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", [input_name], ["mean"], axes=axes, keepdims=0),
            helper.make_node("MatMul", ["mean", "W"], ["mm"]),
            helper.make_node("Add", ["mm", "B"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 2])],
        initializer=[numpy_helper.from_array(WEIGHTS, "W"), numpy_helper.from_array(BIAS, "B")],
    )
    # Opset 17 keeps ReduceMean's axes an attribute; IR 8 loads in any recent runtime.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def write_sidecar(path: Path, **overrides: Any) -> Path:
    """The JSON sidecar of build_tiny_model's model (None drops a key)."""
    sidecar = {
        "input": "pixel_values",
        "size": [8, 12],
        "layout": "NCHW",
        "mean": [0.5, 0.4, 0.3],
        "std": [0.25, 0.2, 0.5],
        "ai_index": 1,
        "softmax": True,
        "hold_threshold": 0.9,
    }
    sidecar.update(overrides)
    path.write_text(json.dumps({k: v for k, v in sidecar.items() if v is not None}))
    return path


class Inbox:
    """What a test SMTP server received: parsed messages, in order."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        import email
        from email import policy

        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]

    def link(self, address: str, path: str) -> str:
        """The last link to `path` (e.g. "/verify/") mailed to `address`."""
        import re

        bodies = [m.get_body().get_content() for m in self.to(address)]
        found = [u for body in bodies for u in re.findall(r"https?://\S+", body) if path in u]
        assert found, f"no {path} link mailed to {address}: {bodies}"
        return found[-1]


def smtp_server():
    """A real SMTP server over TCP on a free loopback port (aiosmtpd, from PyPI); use as a
    context manager yielding its Inbox."""
    from contextlib import contextmanager

    from aiosmtpd.controller import Controller

    @contextmanager
    def running():
        inbox = Inbox("127.0.0.1", free_port())
        controller = Controller(inbox, hostname=inbox.host, port=inbox.port)
        controller.start()
        try:
            yield inbox
        finally:
            controller.stop()

    return running()


def start_s3_server():
    """moto_server (moto[server] from PyPI) in its own process on a free port: a real HTTP S3
    API for the S3 storage tests. Returns (endpoint URL, stop function)."""
    import shutil
    import subprocess
    import sys
    import time
    import urllib.request

    exe = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("moto_server exited at start") from None
            time.sleep(0.1)

    def stop():
        proc.terminate()
        proc.wait(timeout=10)

    return endpoint, stop


def s3_client(settings: dict):
    """A boto3 client for the bucket that app settings (STORAGE='s3') name."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=settings["S3_ENDPOINT_URL"],
        aws_access_key_id=settings["S3_ACCESS_KEY_ID"],
        aws_secret_access_key=settings["S3_SECRET_ACCESS_KEY"],
        region_name=settings["S3_REGION"],
    )


# The authorization matrix's figures, printed at the end of the run (tests/conftest.py).
MATRIX_FIGURES = pytest.StashKey[str]()
