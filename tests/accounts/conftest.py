"""Fixtures of the account tests: a real SMTP server the app sends its mail to."""

import pytest

from tests.support import MailServer


@pytest.fixture
def mailbox(app):
    """A running SMTP server that `app` sends its mail to (mail.send reads the config per send)."""
    server = MailServer()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.start(), MAIL_USE_TLS=False)
    yield server
    server.stop()
