"""$identity-search — GET/POST Patient/$identity-search (this server's operation).

ig/OperationDefinition-Patient-identity-search.json; the booklet's "Rechercher
si le patient est existant" before creating a child's record. Inputs are the
five strict traits (``birth-family-name``, ``first-birth-given-name``,
``birth-date``, ``gender``, ``birth-place-code``), the twin rank
(``birth-rank``), the ``used-name`` and ``count``. Any trait may be missing
or a placeholder (it then proves nothing); a name may hold the booklet's
``%`` wildcard ("T%se" finds Thérèse); at least a name or the birth date is
needed. The answer is a searchset of candidates ranked by grade and score
(``operations.identity_results``), masked where the caller may not look.
"""

from __future__ import annotations

import re
from typing import Any

from fhir_server.errors import InvalidRequest
from fhir_server.interactions.context import Context
from fhir_server.interactions.outcome import Outcome
from fhir_server.interactions.routing import FhirRequest
from fhir_server.operations.identity_results import identity_bundle
from fhir_server.operations.parameters import (
    as_int,
    body_resource,
    collect_parameters,
    query_params,
    single,
)
from fhir_server.operations.registry import Operation
from fhir_server.resources.identity.matching import Query
from fhir_server.resources.identity.traits import Placeholders

DEFINITION = "https://mrtc.example.org/fhir/OperationDefinition/Patient-identity-search"
OP = "$identity-search"
INPUTS = (
    "birth-family-name",
    "first-birth-given-name",
    "birth-date",
    "gender",
    "birth-place-code",
    "birth-rank",
    "used-name",
    "count",
)
GENDERS = frozenset({"male", "female", "unknown"})
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_FRENCH_DATE = re.compile(r"^([0-9]{2})/([0-9]{2})/([0-9]{4})$")
MAX_TEXT = 200


def _text(params: dict[str, list[Any]], name: str) -> str | None:
    value = single(params, name, OP)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{OP}: '{name}' must be a string", msg_id="MRTC-IDN-061")
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise InvalidRequest(
            f"{OP}: '{name}' is longer than {MAX_TEXT} characters", msg_id="MRTC-IDN-061"
        )
    return value or None


def birth_date(value: str | None) -> str | None:
    """``2015-03-14`` or the booklet's ``14/03/2015``; 400 for anything else."""
    if value is None:
        return None
    french = _FRENCH_DATE.match(value)
    if french:
        value = f"{french[3]}-{french[2]}-{french[1]}"
    if not _DATE.match(value):
        raise InvalidRequest(
            f"{OP}: 'birth-date' must be a full date (YYYY-MM-DD or DD/MM/YYYY), got {value!r}",
            msg_id="MRTC-IDN-062",
        )
    return value


def parse_query(params: dict[str, list[Any]]) -> tuple[Query, int | None]:
    gender = _text(params, "gender")
    if gender is not None and gender not in GENDERS:
        raise InvalidRequest(
            f"{OP}: 'gender' must be male, female or unknown, got {gender!r}",
            msg_id="MRTC-IDN-063",
        )
    rank = as_int(single(params, "birth-rank", OP), "birth-rank", OP)
    query = Query(
        family=_text(params, "birth-family-name"),
        given=_text(params, "first-birth-given-name"),
        birth_date=birth_date(_text(params, "birth-date")),
        gender=gender,
        birth_place=_text(params, "birth-place-code"),
        rank=rank,
        used_family=_text(params, "used-name"),
    )
    if not (query.family or query.given or query.birth_date):
        raise InvalidRequest(
            f"{OP} needs at least a birth family name, a first birth given name or a birth date",
            msg_id="MRTC-IDN-060",
        )
    count = as_int(single(params, "count", OP), "count", OP)
    return query, count


async def handle(ctx: Context, req: FhirRequest) -> Outcome:
    params = collect_parameters(query_params(req), body_resource(req), INPUTS, OP)
    query, count = parse_query(params)
    placeholders = Placeholders.from_ig(ctx.services.ig)
    count = min(count, ctx.settings.max_count) if count is not None else None
    return Outcome(200, await identity_bundle(ctx, query, placeholders, count=count))


OPERATION = Operation(
    name="identity-search",
    handler=handle,
    definition=DEFINITION,
    types=frozenset({"Patient"}),
    type_level=True,
)
