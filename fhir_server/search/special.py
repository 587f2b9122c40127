"""Special search parameters (FHIR R4 search, "special").

R4 defines one special base parameter, ``Location?near``, which needs a
geospatial index this server does not build. It is reported as unsupported
(and left out of the CapabilityStatement) rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fhir_server.errors import UnsupportedParameter
from fhir_server.search.criteria import Criterion

# Index entry fields that deserve a database index: nothing: special parameters are not indexed.
INDEX_FIELDS: tuple[str, ...] = ()
# The criterion is an equality/``$in`` on them, so a keyset page can ride a (field, id) index.
EQUALITY_MATCH = False


def extract(values: Sequence[Any]) -> dict[str, Any] | None:
    return None


def criterion(code: str, values: Sequence[str]) -> Criterion:
    raise UnsupportedParameter(
        f"Special search parameter '{code}' is not supported", msg_id="MRTC-SRCH-035"
    )
