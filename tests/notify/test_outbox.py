"""Notifications through the outbox, against a real SMTP server stopped mid-test (issue 11, 5).

People added to a care circle or given a step get a Communication and an
e-mail; the e-mail is queued in the same transaction as the change (an
aborted change queues nothing) and delivered after commit by the worker. The
SMTP server is stopped while changes are made, then started again: the mails
wait in the outbox, are retried with backoff, and arrive once each.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import AppClient, make_settings
from tests.notify.conftest import LoopbackSmtp, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROLE = "https://mrtc.example.org/fhir/CodeSystem/mrtc-care-circle-role"
CIRCLE = "https://mrtc.example.org/fhir/CodeSystem/mrtc-coordination-category"
NOTIFICATION = "https://mrtc.example.org/fhir/CodeSystem/mrtc-notification"
PEOPLE = ["diet", "psy", "apa", "doc", "nurse"]


def person(id_: str, family: str, given: str) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": id_,
        "active": True,
        "name": [{"family": family, "given": [given]}],
        "telecom": [{"system": "email", "value": f"{id_}@example.org"}],
    }


def member(ref: str, code: str) -> dict[str, Any]:
    return {"role": [{"coding": [{"system": ROLE, "code": code}]}], "member": {"reference": ref}}


def circle(*members: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "id": "circle",
        "status": "active",
        "category": [{"coding": [{"system": CIRCLE, "code": "care-circle"}]}],
        "subject": {"reference": "Patient/child"},
        "participant": list(members),
    }


def world() -> list[dict[str, Any]]:
    return [
        person("coord", "Fabre", "Julien"),
        person("breaker", "Touati", "Faïka"),
        *(person(p, p.capitalize(), "Test") for p in PEOPLE),
        {
            "resourceType": "Patient",
            "id": "child",
            "name": [{"family": "Dupont", "given": ["Léa"]}],
            "gender": "female",
            "birthDate": "2016-05-04",
        },
        circle(member("Practitioner/coord", "coordinator")),
    ]


def put_all(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server(mongo_uri: str, smtp: LoopbackSmtp) -> AsyncIterator[AppClient]:
    settings = make_settings(mongo_uri)
    settings.notify.smtp_url = smtp.url
    settings.notify.notify_poll_seconds = 0.1
    settings.notify.notify_retry_base_seconds = 0.2
    settings.notify.notify_retry_max_seconds = 0.8
    settings.notify.smtp_timeout_seconds = 2
    app = AppClient(settings)
    async with app as system:
        r = await system.post("/", json=put_all(world()))
        assert r.status_code == 200, r.text
        yield app


async def outbox(app: AppClient, kind: str | None = None) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await app.app.state.services.notifier.outbox.messages(kind)
    return result


async def test_an_smtp_outage_delays_mail_but_loses_and_doubles_none(
    server: AppClient, smtp: LoopbackSmtp
) -> None:
    http = server.client_for("Practitioner/coord")
    # the coordinator was added by the system that loaded the world: told once
    await eventually(lambda: len(smtp.to("coord@example.org")) == 1)
    before = len(smtp.received)
    smtp.stop()
    try:
        team = circle(
            member("Practitioner/coord", "coordinator"),
            *(member(f"Practitioner/{p}", "other-professional") for p in PEOPLE),
        )
        r = await http.put("/CareTeam/circle", json=team)
        assert r.status_code == 200, r.text
        # queued in the change's transaction, retried while the server is down
        queued = [m for m in await outbox(server, "care-circle-added") if m["status"] == "pending"]
        assert sorted(m["to"][0] for m in queued) == sorted(f"{p}@example.org" for p in PEOPLE)

        ids = {m["id"] for m in queued}

        async def retried() -> bool:
            mine = [m for m in await outbox(server, "care-circle-added") if m["id"] in ids]
            return all(m["attempts"] >= 2 and m["status"] == "pending" for m in mine)

        for _ in range(100):
            if await retried():
                break
            await asyncio.sleep(0.05)
        assert await retried()
        assert len(smtp.received) == before
    finally:
        smtp.start()
    await eventually(lambda: len(smtp.received) >= before + len(PEOPLE))
    await asyncio.sleep(1.0)  # a duplicate would arrive within the retry delay
    mails = smtp.received[before:]
    assert len(mails) == len(PEOPLE)
    assert len({m["Message-ID"] for m in mails}) == len(PEOPLE)
    assert Counter(str(m["To"]) for m in mails) == Counter(f"{p}@example.org" for p in PEOPLE)
    assert all(m["status"] == "sent" for m in await outbox(server, "care-circle-added"))
    body = mails[0].get_content()
    assert "cercle de soins de DUPONT Léa" in body
    assert "FABRE Julien" in body  # who added them
    # each member also has a Communication in the record
    r = await server.http.get(
        "/Communication", params={"category": f"{NOTIFICATION}|care-circle-added"}
    )
    recipients = {e["resource"]["recipient"][0]["reference"] for e in r.json()["entry"]}
    assert recipients == {f"Practitioner/{p}" for p in [*PEOPLE, "coord"]}
    # the one who added them is not told about it, and an unchanged member is not told twice
    assert len(smtp.to("coord@example.org")) == 1
    r = await http.put("/CareTeam/circle", json=team)
    assert r.status_code == 200
    await asyncio.sleep(0.5)
    assert len(smtp.received) == before + len(PEOPLE)


async def test_an_aborted_change_queues_no_mail(server: AppClient, smtp: LoopbackSmtp) -> None:
    before = await outbox(server)
    team = circle(member("Practitioner/coord", "coordinator"))
    # removing everyone then adding Zoé in a transaction that fails: nothing is queued
    bad = put_all([{**team, "participant": [member("Practitioner/zoe", "dietitian")]}])
    bad["entry"].append(
        {
            "resource": {"resourceType": "Observation", "status": "nonsense"},
            "request": {"method": "POST", "url": "Observation"},
        }
    )
    r = await server.http.post("/", json=bad)
    assert r.status_code == 400
    assert await outbox(server) == before


async def test_a_task_owner_is_told_whenever_the_owner_changes(
    server: AppClient, smtp: LoopbackSmtp
) -> None:
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": "step-1",
        "status": "requested",
        "intent": "order",
        "description": "Bilan initial diététicien",
        "for": {"reference": "Patient/child"},
        "owner": {"reference": "Practitioner/diet"},
        "restriction": {"period": {"end": "2027-01-15"}},
    }
    r = await server.http.put("/Task/step-1", json=task)
    assert r.status_code == 201, r.text
    await eventually(lambda: any("Bilan initial" in str(m["Subject"]) for m in smtp.to("diet@")))
    mail = next(m for m in smtp.to("diet@") if "Bilan initial" in str(m["Subject"]))
    assert "DUPONT Léa" in str(mail["Subject"])
    assert "échéance : 2027-01-15" in mail.get_content()
    # an update that keeps the owner tells nobody; a new owner is told
    task["status"] = "accepted"
    assert (await server.http.put("/Task/step-1", json=task)).status_code == 200
    task["owner"] = {"reference": "Practitioner/nurse"}
    assert (await server.http.put("/Task/step-1", json=task)).status_code == 200
    await eventually(lambda: any("Bilan initial" in str(m["Subject"]) for m in smtp.to("nurse@")))
    await asyncio.sleep(0.5)
    assert len([m for m in smtp.to("diet@") if "Bilan initial" in str(m["Subject"])]) == 1
    r = await server.http.get(
        "/Communication", params={"category": f"{NOTIFICATION}|task-assigned"}
    )
    assert {e["resource"]["recipient"][0]["reference"] for e in r.json()["entry"]} == {
        "Practitioner/diet",
        "Practitioner/nurse",
    }


async def test_break_glass_mails_the_habilitated_members(
    server: AppClient, smtp: LoopbackSmtp
) -> None:
    breaker = server.client_for("Practitioner/breaker")
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "reason", "valueString": "Appel du SAMU"}],
    }
    r = await breaker.post("/Patient/child/$break-glass", json=body)
    assert r.status_code == 200, r.text

    def told(address: str) -> list[Any]:
        return [m for m in smtp.to(address) if "bris de glace" in str(m["Subject"])]

    await eventually(lambda: len(told("coord@example.org")) == 1)
    mail = told("coord@example.org")[0]
    assert "TOUATI Faïka - motif : Appel du SAMU" in mail.get_content()
    assert "DUPONT Léa" in str(mail["Subject"])
    await eventually(lambda: all(told(f"{p}@example.org") for p in PEOPLE))
    assert not told("breaker@example.org")  # not the one who broke the glass


async def test_without_smtp_the_mails_are_eml_files(mongo_uri: str, tmp_path: Any) -> None:
    settings = make_settings(mongo_uri, data_dir=tmp_path)
    settings.notify.notify_poll_seconds = 0.1
    app = AppClient(settings)
    async with app as system:
        r = await system.post("/", json=put_all(world()))
        assert r.status_code == 200, r.text
        team = circle(
            member("Practitioner/coord", "coordinator"), member("Practitioner/psy", "psychologist")
        )
        assert (await system.put("/CareTeam/circle", json=team)).status_code == 200
        mail_dir = tmp_path / "mail"
        await eventually(lambda: mail_dir.is_dir() and len(list(mail_dir.glob("*.eml"))) == 2)
        texts = [f.read_bytes().decode("utf-8", "replace") for f in mail_dir.glob("*.eml")]
        assert sorted(t.split("To: ")[1].split("\n")[0] for t in texts) == [
            "coord@example.org",
            "psy@example.org",
        ]
        assert all(
            f"Message-ID: <{f.stem}@mrtc-fhir>" in f.read_text() for f in mail_dir.glob("*.eml")
        )
