"""The composition root: build every collaborator of a running server, once, in order.

Kept apart from ``app.py`` (which owns the HTTP app and the lifespan) so that
the wiring reads top to bottom in one place: database, search registry, the
implementation guide (read once), profiles, write hooks, access policy,
operations; then the frozen ``Services``; then the start-up writes (the IG's
served resources) through the same write pipeline as any request. Tests and
benchmarks build the server through ``create_app`` and so through here.
"""

from __future__ import annotations

import logging
from typing import Any

from fhir_server.errors import FhirError
from fhir_server.ig import ImplementationGuide, content_hash
from fhir_server.interactions.context import Context
from fhir_server.interactions.services import Services
from fhir_server.interactions.write import in_transaction, store
from fhir_server.operations import (
    break_glass,
    expand,
    extract,
    lookup,
    news_feed,
    reindex,
    validate,
    validate_code,
)
from fhir_server.operations.registry import OperationRegistry
from fhir_server.profiles.service import ProfileServices
from fhir_server.profiles.structure import check_structure
from fhir_server.resources.hooks import WriteHooks
from fhir_server.resources.search_parameters import SearchParameterHooks, load_stored
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.security.audit import AuditHooks, AuditTrail
from fhir_server.security.care_policy import CarePolicy
from fhir_server.security.compartment import PatientCompartment
from fhir_server.security.hooks import CareCircleHooks, PolicyRefresh
from fhir_server.settings import Settings
from fhir_server.storage.connection import open_client
from fhir_server.storage.mongo import MongoRepository

log = logging.getLogger(__name__)

OPERATIONS = (
    validate.OPERATION,
    expand.OPERATION,
    validate_code.OPERATION,
    lookup.OPERATION,
    extract.OPERATION,
    reindex.OPERATION,
    break_glass.OPERATION,
    news_feed.OPERATION,
)


async def build_services(settings: Settings, uri: str) -> tuple[Services, MongoRepository]:
    """Open the database and build the services; returns them and the storage to close."""
    client = await open_client(uri, timeout_ms=settings.db_timeout_ms)
    registry = SearchParameterRegistry.load_default()
    repository = MongoRepository(client, client[settings.database], registry, settings.search)
    await repository.ensure_base_indexes()
    ig = ImplementationGuide.load(settings.ig_dir)
    for sp in ig.of_type("SearchParameter"):
        registry.add(sp)
    compartment = PatientCompartment.load()
    for sp in compartment.access_parameters(registry):  # the access rule's own index keys
        registry.add(sp)
    profiles = ProfileServices.build(ig, settings.profiles)
    policy = CarePolicy(settings, repository, registry, ig, compartment)
    trail = AuditTrail(repository, compartment.types)
    hooks = WriteHooks()
    hooks.register("*", AuditHooks(trail))
    hooks.register("SearchParameter", SearchParameterHooks(registry, repository))
    hooks.register("Patient", CareCircleHooks(repository))
    for type_ in PolicyRefresh.TYPES:
        hooks.register(type_, PolicyRefresh(policy))
    operations = OperationRegistry()
    for op in OPERATIONS:
        operations.register(op)
    services = Services(
        settings=settings,
        repository=repository,
        search_params=registry,
        ig=ig,
        profiles=profiles,
        hooks=hooks,
        policy=policy,
        operations=operations,
        audit=trail,
    )
    await write_implementation_guide(services)
    await load_stored(registry, repository)  # runtime-created SearchParameters
    await repository.ensure_indexes()
    return services, repository


async def write_implementation_guide(services: Services) -> None:
    """Store the IG's served resources whose content changed since the last start."""
    ctx = Context(services, services.settings.base_url.rstrip("/"))
    written = 0
    for resource in services.ig.served:
        type_, id_ = resource["resourceType"], resource.get("id")
        if not id_:
            continue
        current = await services.repository.read(type_, id_, ctx.scope)
        if (
            current
            and current.resource
            and content_hash(current.resource) == content_hash(resource)
        ):
            continue
        try:
            check_structure(type_, resource)
        except FhirError as exc:
            log.error(
                "IG resource is invalid; not served",
                extra={"resource": f"{type_}/{id_}", "problem": exc.message},
            )
            continue

        async def write(
            tx: Context,
            type_: str = type_,
            id_: str = id_,
            resource: dict[str, Any] = resource,
        ) -> None:
            previous = await tx.services.repository.read(type_, id_, tx.scope)
            await store(tx, type_, id_, resource, previous=previous, method="PUT")

        await in_transaction(ctx, write)
        written += 1
    log.info(
        "implementation guide loaded",
        extra={"resources": len(services.ig.served), "written": written},
    )
