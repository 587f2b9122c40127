"""The one uvicorn configuration: ``fhir-server serve`` and the tests' live server use it.

Kept in one place so that tests run the HTTP server users run. What it
decides: the HTTP/1.1 parser (``FHIR_HTTP_PARSER``) and how much of a request
head that parser reads (``FHIR_MAX_REQUEST_HEAD_BYTES``). h11 reads request
lines up to that limit, so a URL longer than ``FHIR_MAX_URL_BYTES`` reaches
the application and gets its 414 OperationOutcome; httptools cannot parse a
URL of 64 KiB or more (its URL parser counts in 16 bits) and answers those
with a plain-text 400. See docs/decisions/0014-uri-too-long.md.
"""

from __future__ import annotations

from typing import Any

import uvicorn

from fhir_server.settings import Settings


def uvicorn_config(app: Any, settings: Settings, *, host: str, port: int) -> uvicorn.Config:
    """The server's uvicorn settings for ``app`` on ``host:port``."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=settings.http_parser,
        h11_max_incomplete_event_size=settings.max_request_head_bytes,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        access_log=False,
    )
