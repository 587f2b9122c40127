"""Open the database: a configured MongoDB or the embedded server.

Transactions are required (transaction bundles and every versioned write use
them), so a standalone MongoDB is detected here and refused with a message
that says how to fix it, rather than failing later on the first write.

This is also the one place the write concern is set. With durable writes (the
default) every write, and so every transaction commit, is acknowledged only
once it is journaled on a majority of the replica set (``w: majority, j:
true``); a write that cannot reach a majority within the database timeout
fails instead of hanging. The embedded database acknowledges a transaction
commit before syncing its journal whatever the write concern says, so it is
also started with ``--sync-on-commit`` (``storage/embedded.py``). See
docs/decisions/0016-durable-writes.md.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure, PyMongoError

from fhir_server.settings import masked_uri
from fhir_server.startup import StartupRefused

log = logging.getLogger(__name__)


class DatabaseConfigurationError(StartupRefused):
    """The configured database cannot serve this server."""

    def __init__(self, message: str) -> None:
        super().__init__(message, setting="FHIR_MONGODB_URI")


def _write_concern(*, durable: bool, timeout_ms: int) -> dict[str, Any]:
    """The client's write concern: journaled on a majority, or the driver's default."""
    if not durable:
        return {}
    return {"w": "majority", "journal": True, "wTimeoutMS": timeout_ms}


async def open_client(uri: str, *, timeout_ms: int, durable: bool = True) -> AsyncMongoClient[Any]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        uri,
        serverSelectionTimeoutMS=timeout_ms,
        tz_aware=True,
        maxPoolSize=100,
        **_write_concern(durable=durable, timeout_ms=timeout_ms),
    )
    try:
        hello = await client.admin.command("hello")
    except OperationFailure as exc:
        await client.close()
        raise DatabaseConfigurationError(
            f"the MongoDB at FHIR_MONGODB_URI={masked_uri(uri)} refused the connection: "
            f"{(exc.details or {}).get('errmsg') or exc}"
        ) from exc
    except PyMongoError as exc:
        await client.close()
        reason = re.split(r", Timeout:| \(configured timeouts", str(exc))[0]
        raise DatabaseConfigurationError(
            f"cannot reach the MongoDB at FHIR_MONGODB_URI={masked_uri(uri)} within "
            f"FHIR_DB_TIMEOUT_MS={timeout_ms}: {reason}"
        ) from exc
    supports_transactions = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
    if not supports_transactions:
        await client.close()
        raise DatabaseConfigurationError(
            f"The MongoDB at FHIR_MONGODB_URI={masked_uri(uri)} is a standalone server, "
            "which has no transactions. Run it as a replica set (a single-node set is enough: "
            "`mongod --replSet rs0` then `rs.initiate()`), or unset FHIR_MONGODB_URI "
            "to use the embedded database."
        )
    return client
