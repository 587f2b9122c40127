"""E-mails across an SMTP outage: queued, delivered after recovery, none lost or doubled.

Usage: ``python -m bench.outbox_outage [--members 60] [--tasks 40] [--outage 6]``.

The real server runs under uvicorn in its own process with ``FHIR_SMTP_URL``
pointing at an SMTP server (aiosmtpd) on loopback in this process. The SMTP
server is stopped; a trusted system adds ``--members`` people to a care
circle (one transaction) and assigns ``--tasks`` Tasks (one request each);
after ``--outage`` seconds the SMTP server starts again on the same port.
The script reports what was queued in the outbox during the outage, the
delivery attempts made meanwhile, how long the queue took to drain after
recovery, and the messages lost or received twice (by ``Message-ID``).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from pymongo import AsyncMongoClient

from bench.common import database, fhir_server
from fhir_server.storage.embedded import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        )
        return "250 OK"


def world(members: int) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [
        {
            "resourceType": "Practitioner",
            "id": f"p{i}",
            "name": [{"family": f"Nom{i}", "given": ["Test"]}],
            "telecom": [{"system": "email", "value": f"p{i}@example.org"}],
        }
        for i in range(members)
    ]
    entries.append({"resourceType": "Patient", "id": "child", "birthDate": "2016-05-04"})
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in entries
        ],
    }


def care_circle(members: int) -> dict[str, Any]:
    role = "https://mrtc.example.org/fhir/CodeSystem/mrtc-care-circle-role"
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "category": [
            {
                "coding": [
                    {
                        "system": "https://mrtc.example.org/fhir/CodeSystem/mrtc-coordination-category",
                        "code": "care-circle",
                    }
                ]
            }
        ],
        "subject": {"reference": "Patient/child"},
        "participant": [
            {
                "role": [{"coding": [{"system": role, "code": "other-professional"}]}],
                "member": {"reference": f"Practitioner/p{i}"},
            }
            for i in range(members)
        ],
    }


async def main(members: int, tasks: int, outage: float) -> dict[str, Any]:
    port = free_port()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    os.environ.update(
        {
            "FHIR_SMTP_URL": f"smtp://127.0.0.1:{port}",
            "FHIR_NOTIFY_POLL_SECONDS": "0.2",
            "FHIR_NOTIFY_RETRY_BASE_SECONDS": "0.5",
            "FHIR_NOTIFY_RETRY_MAX_SECONDS": "4",
        }
    )
    name = f"bench_outbox_{uuid.uuid4().hex[:8]}"
    with database() as uri, fhir_server(uri, name) as server:
        mongo: AsyncMongoClient[Any] = AsyncMongoClient(uri)
        outbox = mongo[name]["_outbox"]
        async with httpx.AsyncClient(base_url=server, headers=server.headers, timeout=60) as http:
            assert (await http.post("/", json=world(members))).status_code == 200
            smtp.stop()
            down = time.perf_counter()
            r = await http.post("/CareTeam", json=care_circle(members))
            assert r.status_code == 201, r.text
            for i in range(tasks):
                task = {
                    "resourceType": "Task",
                    "status": "requested",
                    "intent": "order",
                    "description": f"Étape {i}",
                    "for": {"reference": "Patient/child"},
                    "owner": {"reference": f"Practitioner/p{i % members}"},
                }
                assert (await http.post("/Task", json=task)).status_code == 201
            await asyncio.sleep(max(0.0, outage - (time.perf_counter() - down)))
            queued = await outbox.count_documents({"status": "pending"})
            attempts = [d["attempts"] async for d in outbox.find({}, {"attempts": 1})]
            received_during = len(inbox.messages)
            smtp = Controller(inbox, hostname="127.0.0.1", port=port)
            smtp.start()
            up = time.perf_counter()
            expected = members + tasks
            deadline = up + 120
            while len(inbox.messages) < expected and time.perf_counter() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            drained = time.perf_counter() - up
            await asyncio.sleep(3)  # a duplicate would arrive within the retry delay
            smtp.stop()
        await mongo.close()
    ids = [str(m["Message-ID"]) for m in inbox.messages]
    return {
        "members_added": members,
        "tasks_assigned": tasks,
        "outage_seconds": round(outage, 1),
        "queued_during_outage": queued,
        "delivery_attempts_during_outage": sum(attempts),
        "max_attempts_per_message": max(attempts, default=0),
        "received_during_outage": received_during,
        "received_after_recovery": len(inbox.messages) - received_during,
        "drain_seconds_after_recovery": round(drained, 2),
        "lost": expected - len(set(ids)),
        "duplicates": len(ids) - len(set(ids)),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=60)
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--outage", type=float, default=6.0)
    args = parser.parse_args()
    figures = asyncio.run(main(args.members, args.tasks, args.outage))
    print(json.dumps(figures, indent=2))
    folder = Path(__file__).resolve().parent / "results"
    folder.mkdir(exist_ok=True)
    (folder / f"outbox-outage-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
        json.dumps(figures, indent=2)
    )
