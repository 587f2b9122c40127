"""Open the database: a configured MongoDB or the embedded server.

Transactions are required (transaction bundles and every versioned write use
them), so a standalone MongoDB is detected here and refused with a message
that says how to fix it, rather than failing later on the first write.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo import AsyncMongoClient

log = logging.getLogger(__name__)


class DatabaseConfigurationError(RuntimeError):
    """The configured database cannot serve this server."""


async def open_client(uri: str, *, timeout_ms: int) -> AsyncMongoClient[Any]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        uri,
        serverSelectionTimeoutMS=timeout_ms,
        tz_aware=True,
        maxPoolSize=100,
    )
    hello = await client.admin.command("hello")
    supports_transactions = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
    if not supports_transactions:
        await client.close()
        raise DatabaseConfigurationError(
            "The MongoDB at FHIR_MONGODB_URI is a standalone server, which has no "
            "transactions. Run it as a replica set (a single-node set is enough: "
            "`mongod --replSet rs0` then `rs.initiate()`), or unset FHIR_MONGODB_URI "
            "to use the embedded database."
        )
    return client
