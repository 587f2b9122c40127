"""Wire the optional parts of a server: the IG, profiles, operations, write hooks.

Kept apart from ``app.py`` so that each subsystem registers itself in one
visible place, and tests build exactly the services the server runs.
"""

from __future__ import annotations

import logging

from fhir_server.errors import FhirError
from fhir_server.interactions.context import Context
from fhir_server.interactions.write import in_transaction, store
from fhir_server.resources.conformance import ImplementationGuide, content_hash
from fhir_server.resources.search_parameters import load_stored, register_on_write
from fhir_server.resources.validation import check_structure
from fhir_server.services import Services

log = logging.getLogger(__name__)


def service_context(services: Services) -> Context:
    """A context for the server's own writes (start-up loading), outside any request."""
    return Context(
        db=services.db,
        settings=services.settings,
        base_url=services.settings.base_url.rstrip("/"),
        search_params=services.search_params,
        services=services,
    )


async def load_implementation_guide(services: Services) -> None:
    ig = ImplementationGuide.load(services.settings.ig_dir)
    served = ig.served  # scripts/build_ig_index.py decides what is conformance
    services.ig = ig
    services.ig_profiles = ig.profiles_by_type()
    services.ig_urls = ig.guide_urls()
    services.read_only = {(r["resourceType"], r["id"]) for r in served if "id" in r}
    for sp in ig.of_type("SearchParameter"):
        services.search_params.add(sp)
    ctx = service_context(services)
    written = 0
    for resource in served:
        type_, id_ = resource["resourceType"], resource.get("id")
        if not id_:
            continue
        current = await services.repository.get(type_, id_)
        if (
            current
            and current.resource
            and content_hash(current.resource) == content_hash(resource)
        ):
            continue
        try:
            check_structure(type_, resource, max_depth=services.settings.max_depth)
        except FhirError as exc:
            log.error(
                "IG resource is invalid; not served",
                extra={"resource": f"{type_}/{id_}", "problem": exc.message},
            )
            continue

        async def write(
            tx: Context, type_: str = type_, id_: str = id_, resource: dict = resource
        ) -> None:
            previous = await tx.services.repository.get(type_, id_, tx.session)
            await store(tx, type_, id_, resource, previous=previous, method="PUT")

        await in_transaction(ctx, write)
        written += 1
    log.info("implementation guide loaded", extra={"resources": len(served), "written": written})


async def install(services: Services) -> None:
    """Load the implementation guide, profile enforcement and operations."""
    from fhir_server.operations import extract, reindex, terminology, validate
    from fhir_server.profiles.service import ProfileServices

    await load_implementation_guide(services)
    await load_stored(services)  # runtime-created SearchParameters
    services.hooks.register("SearchParameter", register_on_write)
    services.profiles = ProfileServices.from_settings(ig_dir=services.settings.ig_dir)
    for op in (validate.OPERATION, *terminology.OPERATIONS, extract.OPERATION, reindex.OPERATION):
        services.operations.register(op)
