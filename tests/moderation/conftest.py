"""Fixtures of the moderation tests."""

import pytest

from cara.core.models import Role
from tests.factories import person


@pytest.fixture
def people(app):
    """An artist, another member, a moderator and an admin (all log in with factories.GOOD)."""
    return {
        "ana": person("ana"),
        "bob": person("bob"),
        "mona": person("mona", role=Role.MODERATOR),
        "alma": person("alma", role=Role.ADMIN),
    }
