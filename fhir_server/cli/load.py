"""``fhir-server load FILE|DIR``: import NDJSON and Bundle files through the FHIR API.

Each resource goes through the same interactions as a client's request
(validation, hooks, profiles, references, access policy, audit): the command
builds the application exactly as ``serve`` does, in this process, and posts
to it over an in-memory ASGI transport (``--url`` posts to a running server
instead, with ``--token``). Nothing is written around the API.

- ``*.ndjson`` / ``*.jsonl`` (one resource per line) are sent in chunks of
  ``--batch`` entries: ``PUT Type/id`` when the resource has an id (so a re-run
  replaces rather than duplicates), ``POST Type`` otherwise; each chunk first as
  one transaction (one commit), and when that is refused, again as a batch, whose
  per-entry outcomes say which lines were bad.
- ``*.json`` holding a Bundle: a ``transaction`` or ``batch`` is posted as it is
  (a transaction stays all or nothing); any other Bundle type (``collection``,
  ``searchset``...) has its resources sent as NDJSON lines are. A ``.json``
  holding one resource is one line.
- ``.gz`` is read through gzip; a directory is walked in name order.

A bad line (not JSON, not a resource, refused by the server) is written to the
error report (``--errors``, NDJSON: file, line, status, message) and counted;
it never stops the rest. Up to ``--concurrency`` batches are in flight at once (the
database writes one while the next is validated). Progress is saved after every
acknowledged batch, in the order the batches were read, in
``--state`` (by default ``<FILE|DIR>.load-state.json``): run the same command
again after an interruption and it resumes after the last acknowledged batch.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gzip
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import click
import httpx
import orjson

from fhir_server.cli.common import load_settings
from fhir_server.settings import Settings

SUFFIXES = (".ndjson", ".jsonl", ".json")
REPORT_VERSION = 1


@dataclass
class Line:
    """One resource to load, where it came from."""

    file: str
    number: int  # 1-based line number (NDJSON) or entry number (Bundle)
    resource: dict[str, Any] | None
    error: str | None = None


@dataclass
class Totals:
    loaded: int = 0
    failed: int = 0
    skipped: int = 0
    bundles: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


def input_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        p for p in path.rglob("*") if p.is_file() and p.name.removesuffix(".gz").endswith(SUFFIXES)
    )


@contextlib.contextmanager
def _open(path: Path) -> Iterator[tuple[Any, Any]]:
    """The text to read, and the raw file whose position measures progress."""
    with path.open("rb") as raw:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw) as unzipped:
                yield unzipped, raw
        else:
            yield raw, raw


def _parse(file: str, number: int, text: bytes) -> Line:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Line(file, number, None, f"not JSON: {exc}")
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return Line(file, number, None, "not a FHIR resource (no resourceType)")
    return Line(file, number, value)


def read_lines(path: Path, start_after: int, progress: Any) -> Iterator[Line | dict[str, Any]]:
    """Lines of an NDJSON file, or the items of a JSON file; a whole Bundle to post as is.

    Lines up to ``start_after`` (already acknowledged) are skipped, not parsed.
    """
    name = str(path)
    stem = path.name.removesuffix(".gz")
    with _open(path) as (text, raw):
        if not stem.endswith(".json"):
            last = raw.tell()
            for number, data in enumerate(text, start=1):
                now = raw.tell()
                progress.update(now - last)
                last = now
                if number <= start_after or not data.strip():
                    continue
                yield _parse(name, number, data)
            return
        whole = text.read()
        progress.update(raw.tell())
    item = _parse(name, 1, whole)
    resource = item.resource
    if resource is None or resource.get("resourceType") != "Bundle":
        if start_after < 1:
            yield item
        return
    if resource.get("type") in ("transaction", "batch"):
        if start_after < 1:
            yield resource  # posted whole
        return
    for number, entry in enumerate(resource.get("entry") or [], start=1):
        if number <= start_after:
            continue
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
            yield Line(name, number, None, "Bundle entry without a resource")
        else:
            yield Line(name, number, res)


def batch_bundle(lines: list[Line], kind: str = "batch") -> dict[str, Any]:
    entries = []
    for line in lines:
        res = line.resource
        assert res is not None
        type_, id_ = res["resourceType"], res.get("id")
        request = (
            {"method": "PUT", "url": f"{type_}/{id_}"}
            if isinstance(id_, str) and id_
            else {"method": "POST", "url": type_}
        )
        entries.append({"resource": res, "request": request})
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def outcome_text(body: Any) -> str:
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        texts = [
            i.get("diagnostics") or (i.get("details") or {}).get("text") or i.get("code", "")
            for i in body.get("issue") or []
        ]
        return "; ".join(t for t in texts if t) or "refused"
    return "refused"


class Loader:
    """Posts batches, writes the error report and the resume state."""

    def __init__(
        self, http: httpx.AsyncClient, errors: IO[str], state_path: Path, state: dict[str, Any]
    ) -> None:
        self.http = http
        self.errors = errors
        self.state_path = state_path
        self.state = state
        self.totals = Totals()

    def report(self, line: Line, status: int | str, message: str) -> None:
        self.totals.failed += 1
        record = {"file": line.file, "line": line.number, "status": status, "message": message}
        if line.resource is not None:
            record["resource"] = f"{line.resource.get('resourceType')}/{line.resource.get('id')}"
        self.errors.write(json.dumps(record, ensure_ascii=False) + "\n")

    def save(self, file: str, done: int) -> None:
        self.state.setdefault("files", {})[file] = done
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1), encoding="utf-8")
        tmp.replace(self.state_path)  # atomic: an interruption leaves the old or the new state
        self.errors.flush()

    async def post(self, body: dict[str, Any]) -> httpx.Response:
        for attempt in range(5):
            r = await self.http.post("/", json=body)
            if r.status_code not in (429, 503):
                return r
            await _sleep(float(r.headers.get("Retry-After", "1")) * (attempt + 1))
        return r

    async def deliver(self, lines: list[Line]) -> None:
        """One batch; every line's outcome counted, every failure reported (nothing saved)."""
        good = [ln for ln in lines if ln.resource is not None]
        for ln in lines:
            if ln.resource is None:
                self.report(ln, "unreadable", ln.error or "unreadable")
        if good:
            # First as one transaction: one commit for the chunk (a durable commit costs
            # more than the writes). Refused as a whole, the chunk goes again as a batch,
            # whose per-entry outcomes name each bad line.
            r = await self.post(batch_bundle(good, "transaction"))
            if r.status_code == 200:
                self.totals.loaded += len(good)
                self.totals.by_status["2xx"] = self.totals.by_status.get("2xx", 0) + len(good)
                return
            r = await self.post(batch_bundle(good))
            if r.status_code != 200:
                for ln in good:
                    self.report(ln, r.status_code, outcome_text(_json(r)))
            else:
                entries = (_json(r) or {}).get("entry") or []
                for ln, entry in zip(good, entries, strict=False):
                    response = entry.get("response") or {}
                    status = str(response.get("status", "")).split(" ")[0]
                    self.totals.by_status[status] = self.totals.by_status.get(status, 0) + 1
                    if status.startswith("2"):
                        self.totals.loaded += 1
                    else:
                        self.report(ln, status, outcome_text(response.get("outcome")))
                for ln in good[len(entries) :]:
                    self.report(ln, "no-answer", "the server answered no entry for it")

    async def send_bundle(self, file: str, bundle: dict[str, Any]) -> None:
        """A transaction or batch Bundle from a file, posted whole."""
        self.totals.bundles += 1
        n = len(bundle.get("entry") or [])
        r = await self.post(bundle)
        whole = Line(file, 1, bundle)
        if r.status_code != 200:
            self.totals.failed += n - 1  # report() counts one; the whole bundle failed
            self.report(whole, r.status_code, outcome_text(_json(r)))
        else:
            for number, entry in enumerate((_json(r) or {}).get("entry") or [], start=1):
                status = str((entry.get("response") or {}).get("status", "")).split(" ")[0]
                if status.startswith("2"):
                    self.totals.loaded += 1
                else:
                    self.report(
                        Line(file, number, None),
                        status,
                        outcome_text((entry.get("response") or {}).get("outcome")),
                    )
        self.save(file, 1)


class InOrder:
    """Up to ``width`` batches in flight; progress saved in the order they were read.

    While the server (or this process's own app) validates one batch, the
    database can be writing the previous one: two in flight keep both busy. A
    batch's progress is saved only once it and every batch read before it are
    acknowledged, so a resumed load never skips an unacknowledged line (it may
    send again a batch that was acknowledged after a later one was saved: a
    resource with an id is replaced, not duplicated).
    """

    def __init__(self, loader: Loader, width: int) -> None:
        self.loader = loader
        self.width = width
        self.flying: collections.deque[tuple[str, int, asyncio.Task[None]]] = collections.deque()

    async def submit(self, file: str, lines: list[Line]) -> None:
        task = asyncio.create_task(self.loader.deliver(lines))
        self.flying.append((file, lines[-1].number, task))
        while len(self.flying) >= self.width or (self.flying and self.flying[0][2].done()):
            await self._settle_oldest()

    async def drain(self) -> None:
        while self.flying:
            await self._settle_oldest()

    async def _settle_oldest(self) -> None:
        file, number, task = self.flying[0]
        try:
            await task
        except BaseException:
            for _, _, other in self.flying:
                other.cancel()
            self.flying.clear()
            raise
        self.flying.popleft()
        self.loader.save(file, number)


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return None


@contextlib.asynccontextmanager
async def _client(settings: Settings, url: str | None, token: str | None) -> AsyncIterator[Any]:
    """An HTTP client on the API: a running server's, or this process's own app."""
    if url:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300) as http:
            yield http
        return
    from fhir_server.app import create_app
    from fhir_server.security.tokens import mint_dev_token

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        if token is None:
            token = mint_dev_token(settings, scope="system/*.cruds", ttl=7 * 24 * 3600)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://localhost",
            headers={"Authorization": f"Bearer {token}"},
            timeout=None,
        ) as http:
            yield http


def _inputs(path: Path, state_path: Path) -> tuple[list[Path], dict[str, Any], int]:
    """The files to read, the saved progress, and their total size (for the progress bar)."""
    files = input_files(path)
    state: dict[str, Any] = {"version": REPORT_VERSION, "files": {}}
    if state_path.exists():
        state = json.loads(state_path.read_text(encoding="utf-8"))
    return files, state, sum(p.stat().st_size for p in files)


async def run_load(
    path: Path,
    *,
    settings: Settings,
    url: str | None,
    token: str | None,
    batch: int,
    state_path: Path,
    errors_path: Path,
    show_progress: bool,
    concurrency: int = 1,
) -> Totals:
    files, state, total_bytes = _inputs(path, state_path)
    bar = click.progressbar(length=total_bytes, label="loading", hidden=not show_progress)
    with errors_path.open("a", encoding="utf-8") as errors, bar as progress:
        async with _client(settings, url, token) as http:
            loader = Loader(http, errors, state_path, state)
            window = InOrder(loader, concurrency)
            for p in files:
                done = int(state.get("files", {}).get(str(p), 0))
                pending: list[Line] = []
                for item in read_lines(p, done, progress):
                    if isinstance(item, dict):
                        await window.drain()
                        await loader.send_bundle(str(p), item)
                        continue
                    pending.append(item)
                    if len(pending) >= batch:
                        await window.submit(str(p), pending)
                        pending = []
                if pending:
                    await window.submit(str(p), pending)
                # the next file's resources may reference this one's (patients, then
                # their observations): it starts once this one is acknowledged
                await window.drain()
            return loader.totals


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--batch",
    type=click.IntRange(1, 5000),
    default=200,
    show_default=True,
    help="Resources per batch Bundle.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Batches in flight at once (for a running server with several workers).",
)
@click.option("--url", default=None, help="Post to a running server at this base URL.")
@click.option("--token", default=None, help="Bearer token (default: a development system token).")
@click.option(
    "--state",
    "state_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Resume file (default <PATH>.load-state.json).",
)
@click.option(
    "--errors",
    "errors_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Error report, NDJSON (default <PATH>.load-errors.ndjson).",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="The server's data directory (FHIR_DATA_DIR) when loading in-process.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def load(
    path: Path,
    batch: int,
    concurrency: int,
    url: str | None,
    token: str | None,
    state_path: Path | None,
    errors_path: Path | None,
    data: Path | None,
    quiet: bool,
) -> None:
    """Import NDJSON and Bundle files (a directory of them, gzip accepted) through the API."""
    overrides: dict[str, Any] = {} if data is None else {"data_dir": data.absolute()}
    settings = load_settings(**overrides)
    base = path.absolute()
    state_file = state_path or base.with_name(base.name + ".load-state.json")
    errors_file = errors_path or base.with_name(base.name + ".load-errors.ndjson")
    started = time.monotonic()
    totals = asyncio.run(
        run_load(
            path,
            settings=settings,
            url=url,
            token=token,
            batch=batch,
            state_path=state_file,
            errors_path=errors_file,
            show_progress=not quiet,
            concurrency=concurrency,
        )
    )
    seconds = time.monotonic() - started
    rate = totals.loaded / seconds if seconds else 0.0
    click.echo(
        f"loaded {totals.loaded} resources in {seconds:.1f} s ({rate:.0f}/s); "
        f"{totals.failed} failed (see {errors_file}); resume state in {state_file}",
        err=True,
    )
    if totals.failed:
        raise SystemExit(1)
