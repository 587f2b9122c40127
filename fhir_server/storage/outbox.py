"""The e-mail outbox: messages written in the transaction of the change that causes them.

A notification's e-mail must leave if and only if the change that caused it
commits (a member added to a care circle, a step given to someone): the
message is inserted into the ``_outbox`` collection with the change's
session, so an aborted write leaves no mail behind and a committed one
always has its mail queued. A background worker (``fhir_server.notify.worker``)
then claims due messages one at a time with a lease (``claim``), delivers
them and marks them ``sent``, or puts them back with a later due date
(``retry``): a mail server outage delays messages, it loses none.

A claim is an atomic ``find_one_and_update``, so two workers (two server
processes) never deliver the same message at once; a worker that dies
holding a lease lets it expire and the message is claimed again. Nothing
above storage sees these documents: they come and go as ``OutboxMessage``;
the MongoDB implementation is ``storage.mongo_outbox.MongoOutbox``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from fhir_server.storage.repository import ReadScope

COLLECTION = "_outbox"
PENDING, SENT = "pending", "sent"


@dataclass(frozen=True)
class OutboxMessage:
    """One e-mail to deliver: its stable id is also its ``Message-ID``."""

    id: str
    to: tuple[str, ...]
    subject: str
    body: str
    kind: str = ""  # the template that produced it (for counts and logs)
    attempts: int = 0


class Outbox(Protocol):
    """What the notification layer may ask of the outbox."""

    async def add(self, message: OutboxMessage, scope: ReadScope) -> None: ...

    async def claim(self, lease_seconds: float) -> OutboxMessage | None: ...

    async def sent(self, message_id: str) -> None: ...

    async def retry(self, message_id: str, delay_seconds: float, error: str) -> None: ...

    async def counts(self) -> dict[str, int]: ...

    async def messages(self, kind: str | None = None) -> list[dict[str, Any]]: ...
