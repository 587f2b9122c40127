"""``FHIR_DIRECTORY=ror``: the regional ROR's FHIR API, over httpx.

What the ROR requires (reference/french-standards.md §2.1): an OAuth2
client-credentials token from its Keycloak realm (``FHIR_ROR_TOKEN_URL``,
``FHIR_ROR_CLIENT_ID`` / ``_SECRET``), sent as ``Authorization: Bearer`` and
refreshed 30 s before it expires, and the four ``Ror-Profil-Utilisateur-*`` /
``Ror-Role-Metier-*`` headers of the onboarding on every call.

The ROR's Practitioner and PractitionerRole searches only take ``_id``,
``identifier``, ``_lastUpdated`` and ``_tag``: there is no name search. So
the adapter reads the region's extraction — ``PractitionerRole?_tag=<region>
&_include=PractitionerRole:practitioner&_include=PractitionerRole:organization``
and ``Organization?_tag=<region>``, following ``next`` links up to
``FHIR_ROR_MAX_PAGES`` — keeps it for ``FHIR_ROR_CACHE_SECONDS`` and searches
it with the same ``DirectoryIndex`` as the local directory.

Failures are the client's 502 / 504, never a 500: a timeout or a 5xx is
retried ``FHIR_ROR_RETRIES`` times with exponential backoff
(``FHIR_ROR_BACKOFF_SECONDS`` doubled); a 4xx, a malformed answer or a
refused token is a 502 at once (retrying would not change it); timeouts that
outlast the retries are a 504.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from fhir_server.directory.index import DirectoryIndex
from fhir_server.directory.model import DirectoryQuery, DirectoryResult
from fhir_server.errors import DirectoryTimeout, DirectoryUnavailable
from fhir_server.settings import DirectorySettings

log = logging.getLogger(__name__)
TOKEN_MARGIN_SECONDS = 30.0


class _Retry(Exception):
    def __init__(self, timeout: bool, detail: str) -> None:
        super().__init__(detail)
        self.timeout = timeout


class RorDirectory:
    def __init__(
        self, settings: DirectorySettings, client: httpx.AsyncClient | None = None
    ) -> None:
        self.settings = settings
        self.base_url = settings.ror_base_url.rstrip("/")
        self._client = client
        self._token: str | None = None
        self._token_expires = 0.0
        self._index: DirectoryIndex | None = None
        self._index_expires = 0.0
        self._lock = asyncio.Lock()

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.settings.ror_timeout_seconds)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def search(self, query: DirectoryQuery) -> DirectoryResult:
        return (await self.index()).search(query)

    async def entry(self, type_: str, id_: str) -> DirectoryResult | None:
        return (await self.index()).entry(type_, id_)

    async def index(self) -> DirectoryIndex:
        """The region's extraction, fetched again once ``FHIR_ROR_CACHE_SECONDS`` have passed."""
        async with self._lock:
            if self._index is not None and time.monotonic() < self._index_expires:
                return self._index
            if not self.base_url:
                raise DirectoryUnavailable(
                    "FHIR_DIRECTORY=ror needs FHIR_ROR_BASE_URL", msg_id="MRTC-DIR-005"
                )
            tag = self.settings.ror_region_tag
            resources = await self._pages(
                "PractitionerRole",
                [
                    ("_tag", tag),
                    ("_include", "PractitionerRole:practitioner"),
                    ("_include", "PractitionerRole:organization"),
                    ("_count", "1000"),
                ],
            )
            resources += await self._pages("Organization", [("_tag", tag), ("_count", "1000")])
            self._index = DirectoryIndex(resources)
            self._index_expires = time.monotonic() + self.settings.ror_cache_seconds
            return self._index

    async def _pages(self, type_: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        url: str | None = f"{self.base_url}/{type_}"
        query: list[tuple[str, str]] | None = params
        out: list[dict[str, Any]] = []
        for _ in range(self.settings.ror_max_pages):
            if url is None:
                break
            bundle = await self._get(url, query)
            out += [
                e["resource"]
                for e in bundle.get("entry") or []
                if isinstance(e, dict) and isinstance(e.get("resource"), dict)
            ]
            url = next(
                (
                    str(link.get("url"))
                    for link in bundle.get("link") or []
                    if isinstance(link, dict) and link.get("relation") == "next"
                ),
                None,
            )
            query = None  # a next link carries its own query
        return out

    async def _get(self, url: str, params: list[tuple[str, str]] | None) -> dict[str, Any]:
        attempts = self.settings.ror_retries + 1
        last: _Retry | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.settings.ror_backoff_seconds * 2 ** (attempt - 1))
            try:
                return await self._get_once(url, params)
            except _Retry as exc:
                last = exc
                log.warning(
                    "ROR request failed; retrying",
                    extra={"url": url, "attempt": attempt + 1, "detail": str(exc)},
                )
        assert last is not None
        if last.timeout:
            raise DirectoryTimeout(
                f"The ROR directory did not answer in time ({attempts} attempts of "
                f"{self.settings.ror_timeout_seconds:g} s)",
                msg_id="MRTC-DIR-002",
            )
        raise DirectoryUnavailable(
            f"The ROR directory failed ({attempts} attempts): {last}", msg_id="MRTC-DIR-001"
        )

    async def _get_once(self, url: str, params: list[tuple[str, str]] | None) -> dict[str, Any]:
        headers = {**self._ror_headers(), "Authorization": f"Bearer {await self.token()}"}
        try:
            response = await self.client.get(
                url,  # a next link carries its query: params would replace it
                params=tuple(params) if params is not None else None,
                headers=headers,
                timeout=self.settings.ror_timeout_seconds,
            )
        except httpx.TimeoutException as exc:
            raise _Retry(True, f"timeout: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise DirectoryUnavailable(
                f"The ROR directory cannot be reached: {exc!r}", msg_id="MRTC-DIR-001"
            ) from exc
        if response.status_code >= 500:
            raise _Retry(False, f"HTTP {response.status_code}")
        if response.status_code == 401:
            self._token = None  # revoked early: the next call asks for a new one
        if response.status_code >= 400:
            raise DirectoryUnavailable(
                f"The ROR directory refused the request: HTTP {response.status_code}",
                msg_id="MRTC-DIR-003",
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            raise DirectoryUnavailable(
                "The ROR directory answered something other than a FHIR Bundle",
                msg_id="MRTC-DIR-004",
            )
        return body

    def _ror_headers(self) -> dict[str, str]:
        s = self.settings
        pairs = {
            "Ror-Profil-Utilisateur-Code": s.ror_profile_code,
            "Ror-Profil-Utilisateur-System": s.ror_profile_system,
            "Ror-Role-Metier-Code": s.ror_role_code,
            "Ror-Role-Metier-System": s.ror_role_system,
            "Accept": "application/fhir+json",
        }
        return {k: v for k, v in pairs.items() if v}

    async def token(self) -> str:
        """The client-credentials access token, renewed shortly before it expires."""
        if self._token and time.monotonic() < self._token_expires - TOKEN_MARGIN_SECONDS:
            return self._token
        s = self.settings
        try:
            response = await self.client.post(
                s.ror_token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": s.ror_client_id,
                    "client_secret": s.ror_client_secret,
                },
                timeout=s.ror_timeout_seconds,
            )
        except httpx.TimeoutException as exc:
            raise _Retry(True, f"token timeout: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise DirectoryUnavailable(
                f"The ROR token endpoint cannot be reached: {exc!r}", msg_id="MRTC-DIR-006"
            ) from exc
        if response.status_code >= 500:
            raise _Retry(False, f"token endpoint HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = {}
        token = body.get("access_token") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(token, str):
            raise DirectoryUnavailable(
                f"The ROR token endpoint refused the client credentials "
                f"(HTTP {response.status_code})",
                msg_id="MRTC-DIR-006",
            )
        self._token = token
        self._token_expires = time.monotonic() + float(body.get("expires_in") or 300)
        return token
