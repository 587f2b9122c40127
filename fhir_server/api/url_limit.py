"""414 URI Too Long, as an OperationOutcome, for request URLs over ``FHIR_MAX_URL_BYTES``.

https://hl7.org/fhir/R4/http.html: every error a FHIR server returns should
be an OperationOutcome. A plain ASGI middleware, so the limit holds for every
URL (FHIR routes, health checks, documentation) before any routing or query
parsing spends time on it. The HTTP server itself must read request lines
longer than this limit for the answer to come from here and not from the
server's own plain-text 400: see ``fhir_server/http_server.py``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from fhir_server.api.errors import error_response
from fhir_server.errors import UriTooLong


class UrlLengthLimit:
    """Answer 414 when the request target (path and query, as sent) exceeds ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: bytes = scope.get("raw_path") or scope["path"].encode()
            query: bytes = scope.get("query_string") or b""
            size = len(path) + (len(query) + 1 if query else 0)
            if size > self.max_bytes:
                response = error_response(
                    UriTooLong(
                        f"The request URL ({size} bytes) is longer than {self.max_bytes} bytes "
                        "(FHIR_MAX_URL_BYTES); send long searches as POST [type]/_search "
                        "with a form body",
                        msg_id="MRTC-HTTP-414",
                    )
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
