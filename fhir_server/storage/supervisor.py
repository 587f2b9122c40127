"""Watch the embedded database process: restart it when it dies, or give up.

Without a watcher a crashed ``secantusd-py`` leaves a zombie server: the
process is alive, every request waits for the driver's server-selection
timeout and fails, and nothing restarts anything. The supervisor notices the
child's exit within ``FHIR_EMBEDDED_WATCH_INTERVAL``, restarts it on the same
port and data directory (the driver's client reconnects on its own, so the
server serves again without restarting itself), and makes the outage visible:
``available`` is false until the restart succeeds, which ``/healthz`` reports
and ``api/availability.py`` turns into an immediate 503.

Restarts are bounded: ``FHIR_EMBEDDED_RESTART_ATTEMPTS`` attempts, each after
a doubling delay, counted until the database has stayed up for
``FHIR_EMBEDDED_STABLE_AFTER`` seconds (so a database that crashes again right
after each restart is not restarted forever). When they are exhausted the
supervisor gives up for good and calls ``on_give_up``; ``fhir-server serve``
then stops and exits non-zero, so that an external supervisor (systemd, a
container runtime) can act. An in-memory database is never restarted: a
fresh one would silently serve an empty store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from fhir_server.settings import Settings
from fhir_server.storage.embedded import EmbeddedServer, EmbeddedServerError
from fhir_server.storage.health import DatabaseState

log = logging.getLogger(__name__)


class EmbeddedSupervisor:
    """Keeps one ``EmbeddedServer`` running; start() after it is up, stop() before it."""

    def __init__(
        self,
        server: EmbeddedServer,
        settings: Settings,
        *,
        on_give_up: Callable[[], None] = lambda: None,
    ) -> None:
        self.server = server
        self.attempts = settings.embedded_restart_attempts
        self.delay = settings.embedded_restart_delay
        self.delay_max = settings.embedded_restart_delay_max
        self.interval = settings.embedded_watch_interval
        self.stable_after = settings.embedded_stable_after
        self.on_give_up = on_give_up
        self.state = DatabaseState.UP
        self._failures = 0  # restarts since the database was last stable
        self._up_since = time.monotonic()
        self._listeners: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._starting: asyncio.Future[EmbeddedServer] | None = None

    @property
    def available(self) -> bool:
        return self.state is DatabaseState.UP

    def on_unavailable(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (in the event loop) each time the database goes down."""
        self._listeners.append(listener)

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="embedded-database-supervisor")

    async def stop(self) -> None:
        """Stop watching; wait for a restart in progress so no child is left behind."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._starting is not None:
            with contextlib.suppress(Exception):
                await self._starting

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            process = self.server.process
            if process is not None and process.poll() is None:
                if self._failures and time.monotonic() - self._up_since >= self.stable_after:
                    self._failures = 0
                continue
            code = process.returncode if process is not None else None
            log.error("embedded database exited", extra={"exit_code": code})
            self._set_state(DatabaseState.RECOVERING)
            if not await self._restart():
                self._set_state(DatabaseState.FAILED)
                log.critical(
                    "embedded database could not be restarted; giving up",
                    extra={"attempts": self._failures},
                )
                self.on_give_up()
                return
            self._up_since = time.monotonic()
            self._set_state(DatabaseState.UP)

    async def _restart(self) -> bool:
        if self.server.data_dir == ":memory:":
            log.error("an in-memory embedded database is not restarted: its data is gone")
            return False
        while self._failures < self.attempts:
            self._failures += 1
            delay = min(self.delay * 2 ** (self._failures - 1), self.delay_max)
            log.warning(
                "restarting embedded database",
                extra={"attempt": self._failures, "of": self.attempts, "delay_s": delay},
            )
            await asyncio.sleep(delay)
            self._starting = asyncio.ensure_future(asyncio.to_thread(self.server.start))
            try:
                await asyncio.shield(self._starting)
            except (EmbeddedServerError, OSError) as exc:
                log.error(
                    "embedded database restart failed",
                    extra={"attempt": self._failures, "error": str(exc)},
                )
                continue
            finally:
                if self._starting.done():
                    self._starting = None
            log.warning("embedded database restarted", extra={"attempt": self._failures})
            return True
        return False

    def _set_state(self, state: DatabaseState) -> None:
        was_available = self.available
        self.state = state
        if was_available and not self.available:
            for listener in self._listeners:
                listener()
