"""The one place where stored MongoDB documents and FHIR resources meet.

Layout of a document in the per-type collection (named after the type, e.g.
``Patient``) that holds the current version of each resource::

    {
      "_id":  "<logical id>",            # FHIR ids are strings, never ObjectIds
      "vid":  3,                         # version number (meta.versionId)
      "lu":   datetime (UTC, ms),        # meta.lastUpdated
      "del":  false,                     # logical delete marker
      "res":  {...},                     # the JSON served, meta included; None when deleted
      "idx":  {...},                     # extracted, normalised search values (search.indexing)
      "idxv": 1,                         # index version stamp, so a reindex finds stale docs
      "ck":   "<condition key>",         # only on a resource made by a conditional create
      "drv":  {...}                      # only what the server derived from other resources
    }                                    #   (Repository.derive); its search values are in idx

Every version also goes into the ``_history`` collection (but those of the append-only
types, ``APPEND_ONLY_TYPES``, whose one version is the current document)::

    {"_id": "Patient/123/3", "t": "Patient", "id": "123", "vid": 3, "lu": ...,
     "del": false, "res": {...}, "m": "PUT"}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fhir_server.storage.repository import StoredResource

HISTORY_COLLECTION = "_history"
# Types whose resources are never changed once written (the access policy refuses every
# change to them, security.care_policy.IMMUTABLE_TYPES): their one version is the current
# document, so no copy goes to ``_history`` (decision 0038).
APPEND_ONLY_TYPES = frozenset({"AuditEvent"})


def history_shaped(type_: str, doc: dict[str, Any]) -> dict[str, Any]:
    """A current document of an append-only type, as its (only) history entry reads."""
    return {
        "_id": f"{type_}/{doc['_id']}/{doc['vid']}",
        "t": type_,
        "id": doc["_id"],
        "vid": doc["vid"],
        "lu": doc["lu"],
        "del": bool(doc.get("del")),
        "res": doc.get("res"),
        "m": "POST",
    }


def from_current(type_: str, doc: dict[str, Any]) -> StoredResource:
    return StoredResource(
        type=type_,
        id=doc["_id"],
        version=doc["vid"],
        last_updated=_aware(doc["lu"]),
        deleted=bool(doc.get("del")),
        resource=doc.get("res"),
        derived=doc.get("drv"),
    )


def from_history(doc: dict[str, Any]) -> StoredResource:
    return StoredResource(
        type=doc["t"],
        id=doc["id"],
        version=doc["vid"],
        last_updated=_aware(doc["lu"]),
        deleted=bool(doc.get("del")),
        resource=doc.get("res"),
        method=doc.get("m"),
    )


def _aware(dt: datetime) -> datetime:
    """Stored dates as ``datetime.UTC`` (BSON's own UTC tzinfo upsets ``email.utils``)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def dotted(doc: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of a stored document (None when a step is missing)."""
    cur: Any = doc
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur
