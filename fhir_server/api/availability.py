"""Fail fast while the embedded database is down: 503, OperationOutcome, Retry-After.

Left to the driver, a request made while the database is down waits for
server selection (``FHIR_DB_TIMEOUT_MS``) and a write waits that long once per
transaction retry: 5 to 15 s before its 503. The supervisor
(``storage/supervisor.py``) knows the database is down within a tenth of a
second, so this middleware answers at once instead:

- a request that arrives while the database is unavailable gets its 503 without
  running;
- a request already running when the database goes down, and that has not
  started its response, is answered 503 at that moment and its handler is
  cancelled (whatever it was writing cannot have been acknowledged: the
  database that held its transaction is gone).

``/healthz`` is left to its route, which reports the same state. With an
external MongoDB there is no supervisor and this middleware passes through.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhir_server.api.errors import error_response
from fhir_server.errors import DatabaseUnavailable
from fhir_server.storage.health import DatabaseHealth, DatabaseState

EXEMPT_PATHS = frozenset({"/healthz"})


def unavailable(supervisor: DatabaseHealth, retry_after: int) -> DatabaseUnavailable:
    """The 503 for the supervisor's current state (also used by ``/healthz``)."""
    headers = {"Retry-After": str(retry_after)}
    if supervisor.state is DatabaseState.FAILED:
        return DatabaseUnavailable(
            "The database could not be restarted; the server is shutting down",
            headers=headers,
            msg_id="MRTC-DB-002",
        )
    return DatabaseUnavailable(
        f"The database is restarting after a failure; retry after {retry_after} s",
        headers=headers,
        msg_id="MRTC-DB-001",
    )


@dataclass(eq=False)
class _Running:
    done: asyncio.Future[None]
    task: asyncio.Task[None] | None = None
    started: bool = False  # the response has begun: it can no longer be replaced
    refused: bool = False


class DatabaseGate:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._running: set[_Running] = set()
        self._abandoned: set[asyncio.Task[None]] = set()  # cancelled, still unwinding
        self._watching: DatabaseHealth | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        supervisor = self._supervisor(scope)
        if supervisor is None:
            await self.app(scope, receive, send)
            return
        retry_after: int = scope["app"].state.settings.db_retry_after
        if not supervisor.available:
            await error_response(unavailable(supervisor, retry_after))(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        run = _Running(done=loop.create_future())

        async def send_unless_refused(message: Message) -> None:
            if run.refused:
                return  # the client already has its 503
            if message["type"] == "http.response.start":
                run.started = True
            await send(message)

        async def serve() -> None:
            await self.app(scope, receive, send_unless_refused)

        def finished(_: asyncio.Task[None]) -> None:
            if not run.done.done():
                run.done.set_result(None)

        run.task = loop.create_task(serve())
        run.task.add_done_callback(finished)
        self._running.add(run)
        try:
            await run.done
        except BaseException:  # the server or the client abandoned this request
            run.task.cancel()
            raise
        finally:
            self._running.discard(run)
        if run.refused:
            await error_response(unavailable(supervisor, retry_after))(scope, receive, send)
            return
        run.task.result()  # re-raise what the application raised

    def _supervisor(self, scope: Scope) -> DatabaseHealth | None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            return None
        supervisor: DatabaseHealth | None = getattr(scope["app"].state, "database", None)
        if supervisor is not None and supervisor is not self._watching:
            supervisor.on_unavailable(self._refuse_running)
            self._watching = supervisor
        return supervisor

    def _refuse_running(self) -> None:
        for run in list(self._running):
            if run.started or run.done.done() or run.task is None:
                continue
            run.refused = True
            run.done.set_result(None)
            run.task.cancel()
            self._abandoned.add(run.task)
            run.task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            with contextlib.suppress(BaseException):
                task.exception()  # retrieved: an unwinding failure is expected here
