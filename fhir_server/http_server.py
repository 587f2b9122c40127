"""The one uvicorn configuration: ``fhir-server serve`` and the tests' live server use it.

Kept in one place so that tests run the HTTP server users run. What it
decides: the HTTP/1.1 parser (``FHIR_HTTP_PARSER``) and what happens to a
request that parser cannot read. A URL longer than ``FHIR_MAX_URL_BYTES`` gets
a 414 OperationOutcome from the app (``api/url_limit.py``) when the parser
reads it; httptools, the default and the faster parser, cannot parse a URL of
64 KiB or more, so its protocol is extended here to answer what it cannot
parse with an OperationOutcome too (414 for an over-long URL, 400 otherwise)
instead of uvicorn's plain-text 400. h11 (``FHIR_HTTP_PARSER=h11``) reads
request heads up to ``FHIR_MAX_REQUEST_HEAD_BYTES`` and lets the app answer.
See docs/decisions/0014-uri-too-long.md.
"""

from __future__ import annotations

import http
import uuid
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fhir_server.errors import Issue, operation_outcome
from fhir_server.settings import Settings


class FhirHttpToolsProtocol(HttpToolsProtocol):
    """httptools, answering the requests it cannot parse with a FHIR OperationOutcome.

    uvicorn calls ``send_400_response`` when the parser refuses a request;
    the URL read so far (``self.url``) tells an over-long URL (414) from any
    other malformed request (400).
    """

    max_url_bytes = 8 * 1024

    def send_400_response(self, msg: str) -> None:
        url_bytes = len(getattr(self, "url", b"") or b"")
        if url_bytes > self.max_url_bytes:
            status, code, msg_id = 414, "too-long", "MRTC-HTTP-414"
            text = (
                f"The request URL ({url_bytes} bytes or more) is longer than "
                f"{self.max_url_bytes} bytes (FHIR_MAX_URL_BYTES); send long searches as "
                "POST [type]/_search with a form body"
            )
        else:
            status, code, msg_id = 400, "structure", "MRTC-HTTP-400"
            text = "The request is not valid HTTP/1.1 and could not be read"
        body = orjson.dumps(operation_outcome([Issue("error", code, text, msg_id=msg_id)]))
        head = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode()]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head += [
            b"content-type: application/fhir+json\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"x-request-id: " + uuid.uuid4().hex.encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def uvicorn_config(app: Any, settings: Settings, *, host: str, port: int) -> uvicorn.Config:
    """The server's uvicorn settings for ``app`` on ``host:port``."""
    protocol: Any = settings.http_parser
    if settings.http_parser == "httptools":
        protocol = type(
            "ConfiguredFhirHttpToolsProtocol",
            (FhirHttpToolsProtocol,),
            {"max_url_bytes": settings.max_url_bytes},
        )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        h11_max_incomplete_event_size=settings.max_request_head_bytes,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=10,
        access_log=False,
    )
