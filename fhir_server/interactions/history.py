"""history — GET [base]/_history, [type]/_history, [type]/[id]/_history.

https://hl7.org/fhir/R4/http.html#history. Versions newest first, as a
Bundle of type ``history`` whose entries carry request and response. Paging
uses the same opaque cursor as search, on (lastUpdated, version key), so
versions written while a client pages never shift or repeat a page. ``_since`` and ``_at`` (as
an upper bound) limit the time range; ``_count`` the page size.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fhir_server.errors import InvalidRequest, ResourceNotFound, UnsupportedParameter
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.search.paging import Cursor
from fhir_server.storage.repository import HistoryQuery, StoredResource, instant

HISTORY_PARAMS = {"_count", "_since", "_at", "_page", "_format", "_pretty"}


def parse_instant(name: str, value: str) -> datetime:
    text = value.strip().replace(" ", "+")
    if len(text) == 10:
        text += "T00:00:00+00:00"
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            f"{name}='{value}' is not a FHIR instant", msg_id="MRTC-REST-090"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _cursor(value: str) -> Cursor:
    try:
        return Cursor.decode(value)
    except InvalidRequest:
        raise InvalidRequest(
            f"_page='{value}' is not a valid cursor", msg_id="MRTC-REST-091"
        ) from None


def _count(ctx: Context, params: dict[str, str]) -> int:
    raw = params.get("_count")
    if raw is None:
        return ctx.settings.default_count
    if not raw.isdigit():
        raise InvalidRequest(f"_count='{raw}' is not a whole number", msg_id="MRTC-REST-092")
    return max(0, min(int(raw), ctx.settings.max_count))


def history_entry(ctx: Context, item: StoredResource) -> dict[str, Any]:
    url = f"{item.type}/{item.id}"
    method = item.method or ("DELETE" if item.deleted else "PUT")
    entry: dict[str, Any] = {"fullUrl": f"{ctx.base_url}/{url}"}
    if item.resource is not None:
        entry["resource"] = item.resource
    entry["request"] = {"method": method, "url": url if method != "POST" else item.type}
    status = {"POST": "201 Created", "DELETE": "204 No Content"}.get(method, "200 OK")
    if method == "PUT" and item.version == 1:
        status = "201 Created"
    entry["response"] = {
        "status": status,
        "etag": item.etag,
        "lastModified": instant(item.last_updated),
    }
    return entry


async def history(
    ctx: Context,
    type_: str | None,
    id_: str | None,
    params: list[tuple[str, str]],
    *,
    strict: bool = False,
) -> Outcome:
    single: dict[str, str] = {}
    for name, value in params:
        if name not in HISTORY_PARAMS:
            if strict:
                raise UnsupportedParameter(
                    f"Unknown history parameter '{name}'", msg_id="MRTC-REST-093"
                )
            continue
        single[name] = value
    count = _count(ctx, single)
    since = parse_instant("_since", single["_since"]) if "_since" in single else None
    at = parse_instant("_at", single["_at"]) if "_at" in single else None
    cursor = _cursor(single["_page"]) if "_page" in single else None
    repo = ctx.services.repository
    if id_ is not None and type_ is not None and await repo.read(type_, id_, ctx.scope) is None:
        raise ResourceNotFound(f"Resource {type_}/{id_} was not found", msg_id="MRTC-REST-020")
    page = await repo.history(HistoryQuery(type_, id_, since, at, cursor, count), ctx.scope)
    path = "/".join(p for p in (type_, id_, "_history") if p)
    kept = [(k, v) for k, v in params if k in HISTORY_PARAMS and k != "_page"]
    links = [{"relation": "self", "url": _url(ctx, path, params if strict else kept)}]
    if page.next is not None:
        links.append(
            {"relation": "next", "url": _url(ctx, path, [*kept, ("_page", page.next.encode())])}
        )
    bundle = {
        "resourceType": "Bundle",
        "type": "history",
        "link": links,
        "entry": [history_entry(ctx, item) for item in page.items],
    }
    return Outcome(200, bundle)


def _url(ctx: Context, path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    return f"{ctx.base_url}/{path}" + (f"?{query}" if query else "")
