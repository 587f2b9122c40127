"""Pages of a search sorted on an indexed key, read through windows of that key.

Two shapes of sorted search are served this way: ``_sort=_lastUpdated`` and
``_sort=-_lastUpdated`` with no other criterion (the ``lu`` index), and
``<equality>=x&_sort=-<date>`` where the data file names the pair in
``_sorted`` (``fhir_server/data/search-indexes.json``; Observation
``code`` + ``date``, the latest-first series of weights, heights, BMIs),
which has a compound index (equality, latest end of the date, id).

A page is read as a series of bounded ranges of the sort key, walked in the
sort order from the page's anchor: ``{eq: x, key: {$gte: a, $lte: b}}``,
sorted, limited. The embedded database materialises every document of the
range it is given before it applies ``limit`` (DESIGN.md, "The embedded
database's query planner"), so the plain keyset query
``{eq: x, key: {$lte: anchor}}`` cost the whole rest of the match on every
page, and the first page the whole match; a window costs about the page. On
MongoDB the same queries are index range scans that stop at ``limit``.

The width of the next window travels in the cursor (milliseconds, from the
span of the page just shown); an empty or short window widens fourfold, an
overfull one is continued from its last document. Correctness never rests on
the width or on the remembered extremes: the first window is open on the side
before the page, each next one starts where the previous one ended, and when
the windows reach the end of the range the key can hold (or a query budget),
the last window is clamped to it and what may lie beyond (undated documents)
is read the plain way (``storage.paging``), the whole page again.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DESCENDING

from fhir_server.search.paging import Cursor
from fhir_server.storage.documents import dotted
from fhir_server.storage.indexes import IndexSelection
from fhir_server.storage.query import Env, Query, visible

FLOOR = datetime(1, 1, 2, tzinfo=UTC)  # below this no date can lie
CEILING_MARGIN = timedelta(days=1)  # _lastUpdated is stamped by this server: <= now
FIRST_WIDTH = timedelta(hours=6)
MAX_WIDTH = timedelta(days=1_000_000)
MAX_QUERIES = 24
# Where the last first page began and how wide its window was, per database, type,
# sort key and direction: where a first page's first window starts. A hint only.
_hints: dict[tuple[str, str, str, int], tuple[datetime, timedelta]] = {}


@functools.lru_cache(maxsize=8)
def _selection(setting: str) -> IndexSelection:
    return IndexSelection.from_setting(setting)


def windowed_key(env: Env, q: Query) -> str | None:
    """The sort key ``q``'s pages are read by windows of, or None (plain paging)."""
    if not env.settings.sorted_windows or q.tests or q.follows or len(q.sort) != 2:
        return None
    key, direction = q.sort[0]
    if key == "lu":
        return key if not q.filter else None
    parts = key.split(".")
    if len(parts) != 3 or parts[0] != "idx" or parts[2] != "e" or direction != DESCENDING:
        return None
    if len(q.filter) != 1:
        return None
    ((field_, value),) = q.filter.items()
    eq = field_.split(".")
    if len(eq) != 3 or eq[0] != "idx" or eq[2] != "v" or isinstance(value, dict | list):
        return None
    if (q.type_, eq[1], parts[1]) not in _selection(env.settings.indexes).sorted_pairs:
        return None
    return key


def _aware(v: Any) -> Any:
    if isinstance(v, datetime) and v.tzinfo is None:
        return v.replace(tzinfo=UTC)
    return v


async def fetch_windowed_page(
    env: Env, q: Query, key: str, count: int, cursor: Cursor | None, sort: Sequence[tuple[str, int]]
) -> tuple[list[dict[str, Any]], bool, int] | None:
    """``count`` documents after the anchor in ``sort`` order, whether more follow, next width.

    ``sort`` is the query's sort, reversed for a previous page. None when the
    windows ran out before the page was complete: the caller reads it the
    plain way.
    """
    from fhir_server.storage.paging import is_after, sort_key

    down = sort[0][1] == DESCENDING
    anchor: tuple[Any, ...] | None = (*cursor.keys, cursor.id) if cursor is not None else None
    hint_key = (env.db.name, q.type_, key, sort[0][1])
    hinted = _hints.get(hint_key) if cursor is None else None
    if cursor is not None and cursor.window:
        width = timedelta(milliseconds=cursor.window)
    else:
        width = hinted[1] if hinted else FIRST_WIDTH
    edge: datetime | None = None  # where the next window starts (None: open before it)
    inclusive = True  # whether ``edge`` itself is still to be read
    if anchor is not None:
        edge = _aware(anchor[0])
        if not isinstance(edge, datetime):
            return None
        start = edge
    elif hinted is not None:
        start = hinted[0]
    else:
        start = datetime.now(UTC) if down else FLOOR
    ceiling = datetime.now(UTC) + CEILING_MARGIN
    wanted = count + 1
    batch = wanted + 5
    out: list[dict[str, Any]] = []
    last = False  # the window reaching the end of the range the key can hold
    for _ in range(MAX_QUERIES):
        if last:
            # Past the range the key can hold. Nothing lies beyond the ceiling of a
            # server-stamped _lastUpdated; below a date's floor only undated documents
            # remain, which the plain query reads (whole page, never a mix).
            if key == "lu" and not down:
                break
            return None
        room = start - FLOOR if down else ceiling - start
        if room <= width:
            width, last = max(room, timedelta(milliseconds=1)), True
        far = start - width if down else start + width
        cond: dict[str, Any] = {"$gte": far} if down else {"$lt": far}
        if edge is not None:
            cond[("$lte" if inclusive else "$lt") if down else "$gte"] = edge
        docs = (
            await env.db[q.type_]
            .find(
                {**q.filter, key: cond},
                q.projection,
                sort=list(sort),
                limit=batch,
                session=env.session,
            )
            .to_list()
        )
        kept = [
            d
            for d in docs
            if not d.get("del") and (anchor is None or is_after(sort_key(d, sort), anchor, sort))
        ]
        out += (await visible(env, q, kept))[: wanted - len(out)]
        if len(out) >= wanted:
            break
        if len(docs) == batch:  # more in this window than a batch: go on inside it
            anchor = sort_key(docs[-1], sort)
            edge = start = _aware(anchor[0])
            inclusive, last = True, False
            continue
        if out:
            anchor = sort_key(out[-1], sort)
        # the window is exhausted: the next one begins where it ended (its lower
        # bound was inclusive going down, its upper bound exclusive going up)
        edge = start = far
        inclusive = not down
        width = min(width * 4, MAX_WIDTH)
    else:
        return None
    page = out[:count]
    next_width = width
    if len(page) >= 2:
        first_k, last_k = _aware(dotted(page[0], key)), _aware(dotted(page[-1], key))
        if isinstance(first_k, datetime) and isinstance(last_k, datetime):
            span = abs(last_k - first_k)
            next_width = max(timedelta(milliseconds=1), span * wanted / (len(page) - 1))
    next_width = min(next_width, MAX_WIDTH)
    if cursor is None and page:
        first_k = _aware(dotted(page[0], key))
        if isinstance(first_k, datetime):
            _hints[hint_key] = (first_k, next_width)
    return page, len(out) > count, max(1, int(next_width / timedelta(milliseconds=1)))
