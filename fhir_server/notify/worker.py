"""The background worker that drains the outbox after commits.

It claims one due message at a time (a lease, so another server process
sharing the database never sends it concurrently), delivers it, and marks it
sent; a failure puts it back, due again after ``retry_base * 2^(attempts-1)``
seconds, capped at ``retry_max``. Messages are never dropped: a mail server
down for an hour delays them by about an hour (decision 0027). The worker
wakes when a notification is committed (``poke``) and otherwise polls every
``FHIR_NOTIFY_POLL_SECONDS``; a database outage only pauses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fhir_server.notify.delivery import Delivery
from fhir_server.settings import NotifySettings
from fhir_server.storage.outbox import Outbox

log = logging.getLogger(__name__)


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones."""
    return float(min(cap, base * (2 ** max(0, attempts - 1))))


class OutboxWorker:
    def __init__(self, outbox: Outbox, delivery: Delivery, settings: NotifySettings) -> None:
        self.outbox = outbox
        self.delivery = delivery
        self.settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def poke(self) -> None:
        """Something was committed to the outbox: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def drain(self) -> int:
        """Deliver every message due now; returns how many left."""
        delivered = 0
        while not self._stopping:
            message = await self.outbox.claim(self.settings.notify_lease_seconds)
            if message is None:
                return delivered
            try:
                await self.delivery.send(message)
            except Exception as exc:  # any failure to deliver: retried later, never dropped
                delay = backoff(
                    message.attempts,
                    self.settings.notify_retry_base_seconds,
                    self.settings.notify_retry_max_seconds,
                )
                log.warning(
                    "e-mail delivery failed; retrying later",
                    extra={
                        "outbox_id": message.id,
                        "attempts": message.attempts,
                        "delay": delay,
                        "error": repr(exc),
                    },
                )
                await self.outbox.retry(message.id, delay, repr(exc))
                continue
            await self.outbox.sent(message.id)
            delivered += 1
        return delivered

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.drain()
            except Exception:  # the database may be down: wait and try again
                log.exception("the outbox could not be drained")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.notify_poll_seconds)
