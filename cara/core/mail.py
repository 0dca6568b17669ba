"""Sending mail: SMTP when MAIL_SERVER is set, else the message is written to the log (so a
fresh `make run` shows reset and confirmation links without a mail server)."""

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app

log = logging.getLogger(__name__)


def send(to: str, subject: str, body: str) -> None:
    """Send a plain-text message to one address."""
    cfg = current_app.config
    if not cfg["MAIL_SERVER"]:
        log.warning("Mail to %s (no MAIL_SERVER configured): %s\n%s", to, subject, body)
        return
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"], msg["To"] = cfg["MAIL_FROM"], to
    msg.set_content(body)
    with smtplib.SMTP(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=10) as smtp:
        if cfg["MAIL_USE_TLS"]:
            smtp.starttls()
        if cfg["MAIL_USERNAME"]:
            smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
        smtp.send_message(msg)
