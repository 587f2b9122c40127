"""Every non-2xx response is an OperationOutcome, produced here and only here.

Typed ``FhirError``s carry their status through ``errors.ERROR_TABLE``;
anything else is an internal error: logged with its stack trace and the
request id, answered as a 500 OperationOutcome that reveals no internals.
4xx are logged as warnings, 5xx as errors.
"""

from __future__ import annotations

import logging

from starlette.responses import Response

from fhir_server.api.formats import FHIR_JSON, encode
from fhir_server.errors import FhirError, InternalError, operation_outcome
from fhir_server.logs import request_id_var

log = logging.getLogger("fhir_server.errors")


def error_response(
    exc: BaseException, *, pretty: bool = False, media_type: str = FHIR_JSON
) -> Response:
    if not isinstance(exc, FhirError):
        log.error("unhandled error", exc_info=exc)
        exc = InternalError(
            f"Internal server error (request id {request_id_var.get() or 'unknown'})",
            msg_id="MRTC-HTTP-500",
        )
    elif exc.status >= 500:
        log.error(exc.message, extra={"status": exc.status, "msg_id": exc.msg_id})
    else:
        log.warning(exc.message, extra={"status": exc.status, "msg_id": exc.msg_id})
    body = operation_outcome(exc.outcome_issues())
    content, media_type = encode(body, media_type, pretty, must_send=True)
    return Response(
        content=content,
        status_code=exc.status,
        headers=exc.headers,
        media_type=f"{media_type}; charset=utf-8",
    )
