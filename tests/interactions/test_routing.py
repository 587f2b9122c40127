"""The one route table: which interaction a method and a path name (no HTTP, no database)."""

from __future__ import annotations

import pytest

from fhir_server.errors import FhirError
from fhir_server.interactions.routing import resolve


@pytest.mark.parametrize(
    ("method", "path", "interaction", "type_", "id_"),
    [
        ("GET", "metadata", "capabilities", None, None),
        ("GET", "", "search-system", None, None),
        ("POST", "", "bundle", None, None),
        ("GET", "_history", "history-system", None, None),
        ("POST", "_search", "search-system", None, None),
        ("GET", "Patient", "search-type", "Patient", None),
        ("POST", "Patient", "create", "Patient", None),
        ("PUT", "Patient", "conditional-update", "Patient", None),
        ("PATCH", "Patient", "conditional-patch", "Patient", None),
        ("DELETE", "Patient", "conditional-delete", "Patient", None),
        ("POST", "Patient/_search", "search-type", "Patient", None),
        ("GET", "Patient/_history", "history-type", "Patient", None),
        ("GET", "Patient/123", "read", "Patient", "123"),
        ("PUT", "Patient/a-b.c", "update", "Patient", "a-b.c"),
        ("PATCH", "Patient/123", "patch", "Patient", "123"),
        ("DELETE", "Patient/123", "delete", "Patient", "123"),
        ("GET", "Patient/123/_history", "history-instance", "Patient", "123"),
        ("GET", "Patient/123/_history/4", "vread", "Patient", "123"),
        ("POST", "$reindex", "operation", None, None),
        ("GET", "ValueSet/$expand", "operation", "ValueSet", None),
        ("POST", "Patient/123/$validate", "operation", "Patient", "123"),
        ("get", "/Patient/123/", "read", "Patient", "123"),  # method case, slashes
    ],
)
def test_paths_name_their_interaction(
    method: str, path: str, interaction: str, type_: str | None, id_: str | None
) -> None:
    req = resolve(method, path)
    assert (req.interaction, req.type, req.id) == (interaction, type_, id_)


def test_version_and_operation_are_parsed() -> None:
    assert resolve("GET", "Patient/1/_history/42").vid == 42
    assert resolve("POST", "Patient/1/$validate").operation == "validate"


def test_query_items_are_kept_in_order_with_blanks() -> None:
    req = resolve("GET", "Patient", "family=a&given=&family=b")
    assert req.params == [("family", "a"), ("given", ""), ("family", "b")]


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "Unicorn/1", 404, None),  # unknown type
        ("GET", "patient/1", 404, None),  # not a type
        ("GET", "Patient/1/_history/4/extra", 404, None),
        ("POST", "Patient/1", 405, "DELETE, GET, PATCH, PUT"),
        ("DELETE", "metadata", 405, "GET"),
        ("GET", "Patient/" + "x" * 65, 400, None),  # id too long
        ("GET", "Patient/a b", 400, None),
        ("GET", "Patient/1/_history/v2", 400, None),
    ],
)
def test_bad_paths_are_refused_with_the_right_status(
    method: str, path: str, status: int, allow: str | None
) -> None:
    with pytest.raises(FhirError) as caught:
        resolve(method, path)
    assert caught.value.status == status
    if allow is not None:
        assert caught.value.headers["Allow"] == allow
