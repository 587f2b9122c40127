"""Wire the optional parts of a server: operations, IG, profiles, write hooks.

Kept apart from ``app.py`` so that each subsystem registers itself in one
visible place, and tests can build the same services the server runs.
"""

from __future__ import annotations

from fhir_server.services import Services


async def install(services: Services) -> None:
    """Register operations, load the implementation guide and profile enforcement."""
    return None
