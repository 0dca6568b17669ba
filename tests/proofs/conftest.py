"""Fixtures of the proofs: `figures` records what a proof measured (the terminal summary prints
every proof's figures at the end of the run, so CI's output shows them); `redis_server`, a
redis-server of the test's own; `services`, the site's real processes (tests/proofs/stack.py)."""

import pytest

from tests.proofs.stack import Services
from tests.support import RedisServer

FIGURES = pytest.StashKey[list]()


@pytest.fixture
def figures(request):
    """figures(title, **numbers): one line in the "proofs" section of the summary."""
    lines = request.config.stash.setdefault(FIGURES, [])

    def record(title: str, **numbers) -> None:
        lines.append(f"{title}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))

    return record


def pytest_terminal_summary(terminalreporter, config):
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("proofs: figures")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def services(app, redis_server, tmp_path):
    """Services(...) on the test app's database; every process is killed at the end."""
    folder = tmp_path / "logs"
    folder.mkdir()
    site = Services(app, redis_server.url, folder)
    yield site
    site.stop_all()
