"""In-process cost of uvicorn's two HTTP/1.1 parsers for one keep-alive request.

Usage: ``python -m bench.http_parser_bench [--n 5000]``.

``FHIR_HTTP_PARSER`` chooses between h11 (the default: it reads request heads up
to ``FHIR_MAX_REQUEST_HEAD_BYTES``, so over-long URLs reach the application and
get a 414 OperationOutcome) and httptools (C, faster, but it cannot parse a URL
of 64 KiB or more). This measures what the choice costs per request, outside
any network noise: parsing a typical ``GET Patient/[id]`` and framing a small
JSON response, as each protocol implementation does it (best of five repeats).
See docs/decisions/0014-uri-too-long.md.
"""

from __future__ import annotations

import argparse
import timeit

import h11
import httptools

REQUEST = (
    b"GET /Patient/123e4567-e89b-12d3-a456-426614174000 HTTP/1.1\r\n"
    b"Host: 127.0.0.1:8080\r\nUser-Agent: Python/3.11 aiohttp/3.9\r\n"
    b"Accept: application/fhir+json\r\nAccept-Encoding: gzip, deflate\r\n\r\n"
)
BODY = b'{"resourceType":"Patient","id":"123e4567-e89b-12d3-a456-426614174000"}' * 8
HEADERS = [(b"content-type", b"application/fhir+json"), (b"content-length", b"%d" % len(BODY))]


class _Callbacks:
    """What uvicorn's httptools protocol collects: the URL and the headers."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=1024 * 1024)

    def with_h11() -> None:
        conn.receive_data(REQUEST)
        conn.next_event()  # Request
        conn.next_event()  # EndOfMessage
        b"".join(
            (
                conn.send(h11.Response(status_code=200, headers=HEADERS)) or b"",
                conn.send(h11.Data(data=BODY)) or b"",
                conn.send(h11.EndOfMessage()) or b"",
            )
        )
        conn.start_next_cycle()

    def with_httptools() -> None:
        callbacks = _Callbacks()
        httptools.HttpRequestParser(callbacks).feed_data(REQUEST)
        httptools.parse_url(callbacks.url)
        b"".join(
            (
                b"HTTP/1.1 200 OK\r\n",
                *(name + b": " + value + b"\r\n" for name, value in HEADERS),
                b"\r\n",
                BODY,
            )
        )

    for name, fn in (("h11", with_h11), ("httptools", with_httptools)):
        best = min(timeit.repeat(fn, number=args.n, repeat=5)) / args.n * 1e6
        print(f"{name:<10} {best:7.1f} us per request")


if __name__ == "__main__":
    main()
