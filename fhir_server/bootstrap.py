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

from fhir_server.directory import build_directory
from fhir_server.errors import FhirError
from fhir_server.ig import ImplementationGuide, ImplementationGuideError, content_hash
from fhir_server.interactions.context import Context
from fhir_server.interactions.services import Services
from fhir_server.interactions.shared_state import SharedState
from fhir_server.interactions.write import in_transaction, store
from fhir_server.notify.notifier import Notifier
from fhir_server.operations import (
    add_group,
    add_member,
    apply,
    bmi_chart,
    break_glass,
    close,
    complete_step,
    dashboard,
    directory_search,
    expand,
    extract,
    identity_search,
    identity_sheet,
    lookup,
    match,
    news_feed,
    pathway_context,
    reindex,
    reopen,
    request_access,
    validate,
    validate_code,
)
from fhir_server.operations.biometrics import (
    FormHooks,
    IotfReference,
    ObservationHooks,
    PlausibleRanges,
    StepHooks,
)
from fhir_server.operations.biometrics.codes import QUESTIONNAIRE
from fhir_server.operations.biometrics.patients import Patients
from fhir_server.operations.biometrics.regrade import RegradeHooks
from fhir_server.operations.registry import OperationRegistry
from fhir_server.profiles.service import ProfileServices
from fhir_server.profiles.structure import check_structure
from fhir_server.resources.care_circle import register as register_care_circle_hooks
from fhir_server.resources.consent import ConsentRules
from fhir_server.resources.hooks import WriteHooks
from fhir_server.resources.identity.rules import IdentityRules
from fhir_server.resources.identity.shared_tasks import SharedTaskRules
from fhir_server.resources.identity.traits import PATIENT_PROFILE
from fhir_server.resources.saved_filters import SavedFilterHooks
from fhir_server.resources.search_parameters import GENERATION, SearchParameterHooks
from fhir_server.search.registry import SearchParameterRegistry
from fhir_server.security.audit import AuditHooks, AuditTrail
from fhir_server.security.care_policy import CarePolicy
from fhir_server.security.compartment import PatientCompartment
from fhir_server.security.hooks import CareCircleHooks, PolicyRefresh
from fhir_server.settings import Settings
from fhir_server.startup import StartupRefused
from fhir_server.storage.connection import open_client
from fhir_server.storage.mongo import MongoRepository
from fhir_server.storage.mongo_outbox import MongoOutbox
from fhir_server.storage.repository import ReadScope, Repository

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
    identity_search.OPERATION,
    match.OPERATION,
    identity_sheet.OPERATION,
    directory_search.OPERATION,
    add_member.OPERATION,
    add_group.OPERATION,
    request_access.OPERATION,
    apply.OPERATION,
    complete_step.OPERATION,
    close.OPERATION,
    reopen.OPERATION,
    bmi_chart.OPERATION,
    dashboard.OPERATION,
)


async def build_services(settings: Settings, uri: str) -> tuple[Services, MongoRepository]:
    """Open the database and build the services; returns them and the storage to close.

    Everything that can refuse the start (the IG, a changed IG resource that is
    not valid FHIR, the profile settings) is judged before anything is written,
    so a refused start leaves the database as it was.
    """
    ig = ImplementationGuide.load(settings.ig_dir)
    client = await open_client(
        uri, timeout_ms=settings.db_timeout_ms, durable=settings.durable_writes
    )
    registry = SearchParameterRegistry.load_default()
    repository = MongoRepository(
        client,
        client[settings.database],
        registry,
        settings.search,
        retry_after=settings.db_retry_after,
    )
    try:
        changed = await changed_ig_resources(repository, ig, settings.max_depth)
        try:
            profiles = ProfileServices.build(ig, settings.profiles)
        except ValueError as exc:  # a FHIR_ENFORCE_PROFILES item names no IG profile or type
            raise StartupRefused(
                f"invalid setting FHIR_ENFORCE_PROFILES: {exc}", setting="FHIR_ENFORCE_PROFILES"
            ) from exc
        await repository.ensure_base_indexes()
        for sp in ig.of_type("SearchParameter"):
            registry.add(sp, from_guide=True)
        compartment = PatientCompartment.load()
        for sp in compartment.access_parameters(registry):  # the access rule's own index keys
            registry.add(sp)
        policy = CarePolicy(settings, repository, registry, ig, compartment)
        trail = AuditTrail(repository, compartment.types)
        hooks = WriteHooks()
        hooks.register("*", AuditHooks(trail))
        hooks.register(
            "Patient",
            IdentityRules(
                repository,
                registry,
                settings.search,
                ig,
                every_patient=settings.identity_rules == "all",
                profile_check=lambda r: profiles.validator.validate(r, [PATIENT_PROFILE]),
            ),
        )
        hooks.register("Consent", ConsentRules())
        hooks.register("Task", SharedTaskRules(repository))
        hooks.register("Patient", CareCircleHooks(repository))
        hooks.register("Basic", SavedFilterHooks(repository, registry, settings))
        for type_ in PolicyRefresh.TYPES:
            hooks.register(type_, PolicyRefresh(policy))
        built: list[Services] = []
        pathway = pathway_context.register(
            hooks, ig, repository, registry, settings, lambda: built[0]
        )
        hooks.register("CarePlan", PolicyRefresh(policy))  # a deleted pathway takes its steps
        biometric_hooks = register_biometrics(hooks, ig, repository)
        search_parameter_hooks = SearchParameterHooks(registry, repository)
        hooks.register("SearchParameter", search_parameter_hooks)
        outbox = MongoOutbox(repository.db)
        await outbox.ensure_indexes()  # the collection exists before a transaction writes to it
        notifier = Notifier(repository, outbox)
        register_care_circle_hooks(hooks, settings, ig, registry, repository, notifier)
        shared_state = SharedState(repository, settings.shared_state_check_ms)
        shared_state.watch(GENERATION, search_parameter_hooks.sync_stored)
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
            shared_state=shared_state,
            notifier=notifier,
            directory=build_directory(settings.professional_directory),
        )
        built.append(services)
        for bound in biometric_hooks:
            bound.bind(services)
        await write_implementation_guide(services, changed)
        await shared_state.start()  # counters first: a change committed meanwhile is seen later
        await search_parameter_hooks.sync_stored()  # runtime-created SearchParameters
        await repository.ensure_indexes()
        await pathway.summaries.rebuild_once()  # pathways stored before summaries existed
    except BaseException:
        await repository.close()
        raise
    return services, repository


def register_biometrics(
    hooks: WriteHooks, ig: ImplementationGuide, repository: Repository
) -> tuple[StepHooks, RegradeHooks]:
    """The biometric form and BMI-for-age rules (issue #12 items 3-4, decision 0033).

    Returns the hooks that write through the write pipeline (the pre-filled form,
    the re-graded BMIs), to be handed the services once they exist.
    """
    patients = Patients(repository)
    ranges = PlausibleRanges.from_ig(ig)
    observations = ObservationHooks(IotfReference.from_ig(ig), ranges, patients)
    hooks.register_reading("Observation", observations)
    hooks.register_reading("QuestionnaireResponse", FormHooks(ig, ranges, patients))
    steps = StepHooks(ig.by_url()[QUESTIONNAIRE])
    hooks.register("Task", steps)
    regrade = RegradeHooks()
    hooks.register("Patient", regrade)
    return steps, regrade


async def changed_ig_resources(
    repository: Repository, ig: ImplementationGuide, max_depth: int
) -> list[dict[str, Any]]:
    """The IG's served resources whose content differs from what is stored, each checked.

    One that is not valid FHIR refuses the start (``ImplementationGuideError``)
    before anything of that release is stored, so the database never holds
    half a guide. Unchanged ones were checked when they were stored.
    """
    changed: list[dict[str, Any]] = []
    for resource in ig.served:
        type_, id_ = resource["resourceType"], resource.get("id")
        if not id_:
            continue
        current = await repository.read(type_, id_, ReadScope())
        if (
            current
            and current.resource
            and content_hash(current.resource) == content_hash(resource)
        ):
            continue
        try:
            check_structure(type_, resource, max_depth=max_depth)
        except FhirError as exc:
            raise ImplementationGuideError(
                f"{type_}/{id_} is not a valid {type_}: {exc.message}"
            ) from exc
        changed.append(resource)
    return changed


async def write_implementation_guide(
    services: Services, changed: list[dict[str, Any]] | None = None
) -> None:
    """Store the IG's served resources whose content changed since the last start."""
    ctx = Context(services, services.settings.base_url.rstrip("/"))
    if changed is None:
        changed = await changed_ig_resources(
            services.repository, services.ig, services.settings.max_depth
        )
    for resource in changed:

        async def write(tx: Context, resource: dict[str, Any] = resource) -> None:
            type_, id_ = resource["resourceType"], resource["id"]
            previous = await tx.services.repository.read(type_, id_, tx.scope)
            await store(
                tx, type_, id_, resource, previous=previous, method="PUT", check_references=False
            )

        await in_transaction(ctx, write)
    log.info(
        "implementation guide loaded",
        extra={"resources": len(services.ig.served), "written": len(changed)},
    )
