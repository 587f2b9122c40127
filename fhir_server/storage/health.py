"""What the HTTP layer may know of the database's health, without knowing the database.

The embedded database's supervisor (``storage/supervisor.py``) implements
``DatabaseHealth``; the API's fail-fast gate and ``/healthz`` read it through
this protocol, so nothing above storage imports the driver or the process
management behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Protocol


class DatabaseState(StrEnum):
    UP = "up"
    RECOVERING = "recovering"  # the process died; restarts are under way
    FAILED = "failed"  # restarts exhausted: the server is giving up


class DatabaseHealth(Protocol):
    @property
    def state(self) -> DatabaseState: ...

    @property
    def available(self) -> bool: ...

    def on_unavailable(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (in the event loop) whenever the database stops being available."""
        ...
