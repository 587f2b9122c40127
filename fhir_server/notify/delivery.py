"""How an outbox message leaves: SMTP (``FHIR_SMTP_URL``) or ``.eml`` files.

``smtp://host:port`` (plain), ``smtp+starttls://user:password@host:587`` and
``smtps://user:password@host:465`` are understood. Without a URL the
messages are written as ``<data dir>/mail/<id>.eml`` (RFC 5322 files any
mail client opens), the development and offline default.

The outbox id is the message's ``Message-ID``: if a worker dies after the
server accepted a message but before it was marked sent, the one re-sent
copy carries the same ``Message-ID`` (receivers and the ``.eml`` directory
drop it), so an outage never doubles a mail. The standard library's
``smtplib`` runs in a thread: one connection per message keeps a broken
connection from outliving one attempt.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from fhir_server.storage.outbox import OutboxMessage

MESSAGE_ID_DOMAIN = "mrtc-fhir"


class Delivery(Protocol):
    async def send(self, message: OutboxMessage) -> None:
        """Deliver ``message`` or raise (``OSError``, ``smtplib.SMTPException``)."""
        ...


def email_message(message: OutboxMessage, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ", ".join(message.to)
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = f"<{message.id}@{MESSAGE_ID_DOMAIN}>"
    mail["Content-Language"] = "fr"
    mail.set_content(message.body, charset="utf-8")
    return mail


class SmtpDelivery:
    """One SMTP connection per message, in a thread."""

    def __init__(self, url: str, sender: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps", "smtp+starttls") or not parts.hostname:
            raise ValueError(f"FHIR_SMTP_URL must be smtp://, smtps:// or smtp+starttls://: {url}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or {"smtps": 465, "smtp+starttls": 587}.get(parts.scheme, 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        self.timeout = timeout

    async def send(self, message: OutboxMessage) -> None:
        await asyncio.to_thread(self._send, email_message(message, self.sender))

    def _send(self, mail: EmailMessage) -> None:
        smtp: smtplib.SMTP
        if self.scheme == "smtps":
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.scheme == "smtp+starttls":
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(mail)


class EmlDelivery:
    """Writes each message as ``<dir>/<id>.eml`` (atomically: a reader never sees half)."""

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    async def send(self, message: OutboxMessage) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: OutboxMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{message.id}.eml"
        temporary = self.directory / f".{message.id}.eml.tmp"
        temporary.write_bytes(bytes(email_message(message, self.sender)))
        temporary.replace(target)  # the same id twice overwrites: never a duplicate


def delivery_for(smtp_url: str, sender: str, timeout: float, data_dir: Path) -> Delivery:
    if smtp_url:
        return SmtpDelivery(smtp_url, sender, timeout)
    return EmlDelivery(data_dir / "mail", sender)
