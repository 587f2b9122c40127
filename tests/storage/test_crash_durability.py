"""Fault test: every acknowledged write survives SIGKILL of the server and its database.

``bench.crash_bench`` starts ``fhir-server serve --data DIR --port P`` as a
user would, drives creates, updates and 10-entry transaction bundles, kills
the server and the embedded database together at random moments, restarts
them, and checks every acknowledged version and every transaction (all of
it or none). Here a few kills keep the suite short; ``python -m
bench.crash_bench --kills 20`` runs the long version.
"""

from __future__ import annotations

import os
import random

from bench import crash_bench


def test_acknowledged_writes_survive_random_kills() -> None:
    seed = random.randrange(1 << 30)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_")}
    report = crash_bench.run(3, seed=seed, env=env)
    detail = f"seed {seed}\n{report.summary()}"
    assert len(report.acked_per_round) == 3 and all(report.acked_per_round), detail
    assert report.transactions_sent > 0, detail
    assert report.lost == [], detail
    assert report.partial == [], detail
    assert report.lost_transactions == [], detail
    assert report.present_versions == report.acked_versions, detail
