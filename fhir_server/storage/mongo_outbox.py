"""The outbox as a MongoDB collection (see ``storage.outbox`` for what it guarantees)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.storage.outbox import COLLECTION, PENDING, SENT, OutboxMessage
from fhir_server.storage.repository import ReadScope, now


class MongoOutbox:
    """The outbox as a MongoDB collection beside the resources."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.collection = db[COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("status", ASCENDING), ("due", ASCENDING)], name="due_messages"
        )

    async def add(self, message: OutboxMessage, scope: ReadScope) -> None:
        """Queue ``message`` inside ``scope``'s transaction (it commits or aborts with it)."""
        if scope.transaction is None:
            raise RuntimeError("Outbox.add() must run inside a transaction")
        when = now()
        await self.collection.insert_one(
            {
                "_id": message.id,
                "to": list(message.to),
                "subject": message.subject,
                "body": message.body,
                "kind": message.kind,
                "status": PENDING,
                "created": when,
                "due": when,
                "attempts": 0,
            },
            session=scope.transaction,
        )

    async def claim(self, lease_seconds: float) -> OutboxMessage | None:
        """The next due message, leased to this caller for ``lease_seconds``."""
        when = now()
        doc = await self.collection.find_one_and_update(
            {"status": PENDING, "due": {"$lte": when}},
            {"$set": {"due": when + timedelta(seconds=lease_seconds)}, "$inc": {"attempts": 1}},
            sort=[("due", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        return OutboxMessage(
            id=str(doc["_id"]),
            to=tuple(doc.get("to") or ()),
            subject=str(doc.get("subject") or ""),
            body=str(doc.get("body") or ""),
            kind=str(doc.get("kind") or ""),
            attempts=int(doc.get("attempts") or 0),
        )

    async def sent(self, message_id: str) -> None:
        await self.collection.update_one(
            {"_id": message_id}, {"$set": {"status": SENT, "sent": now()}, "$unset": {"due": ""}}
        )

    async def retry(self, message_id: str, delay_seconds: float, error: str) -> None:
        due: datetime = now() + timedelta(seconds=delay_seconds)
        await self.collection.update_one(
            {"_id": message_id, "status": PENDING},
            {"$set": {"due": due, "error": error[:500]}},
        )

    async def counts(self) -> dict[str, int]:
        out: dict[str, int] = {PENDING: 0, SENT: 0}
        async for doc in await self.collection.aggregate(
            [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]
        ):
            out[str(doc["_id"])] = int(doc["n"])
        return out

    async def messages(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every queued or sent message (operators' inspection and tests), oldest first."""
        query: dict[str, Any] = {"kind": kind} if kind else {}
        return [
            {
                "id": d["_id"],
                "to": d.get("to"),
                "subject": d.get("subject"),
                "body": d.get("body"),
                "kind": d.get("kind"),
                "status": d.get("status"),
                "attempts": d.get("attempts"),
            }
            async for d in self.collection.find(query, sort=[("created", ASCENDING)])
        ]
