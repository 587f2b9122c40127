"""A data set for ``fhir-server load``: French children and their weight/height/BMI series.

Usage::

    python -m bench.load_data OUT_DIR [--patients 2000] [--observations 10000] [--seed 13]

Writes ``OUT_DIR/1-Patient.ndjson.gz`` and ``OUT_DIR/2-Observation.ndjson.gz``
(gzip NDJSON, one resource per line, every resource with an id so that a re-run
replaces rather than duplicates), the observations spread evenly over the
patients and referencing them by ``Patient/<id>``. The file names sort the
patients first: ``fhir-server load OUT_DIR`` walks a directory in name order,
and an observation's subject must exist when it is written. The shapes are
those of ``bench.peer_bench`` (same generator as the side-by-side benchmark);
the ids are derived from ``--seed`` so the same command rebuilds the same set.

Then measure::

    time fhir-server load OUT_DIR --data /tmp/load-db --quiet
"""

from __future__ import annotations

import argparse
import gzip
import random
import uuid
from pathlib import Path
from typing import Any

import orjson

from bench.peer_bench import child, observation


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def write_set(out: Path, patients: int, observations: int, seed: int = 13) -> list[Path]:
    """Write the two files; returns their paths (patients first)."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    ids = [_id(rng) for _ in range(patients)]
    patient_file = out / "1-Patient.ndjson.gz"
    with gzip.open(patient_file, "wb") as f:
        for i, id_ in enumerate(ids):
            f.write(orjson.dumps({**child(rng, i), "id": id_}) + b"\n")
    observation_file = out / "2-Observation.ndjson.gz"
    with gzip.open(observation_file, "wb") as f:
        for j in range(observations):
            res: dict[str, Any] = observation(f"Patient/{ids[j % patients]}", j // patients)
            f.write(orjson.dumps({**res, "id": _id(rng)}) + b"\n")
    return [patient_file, observation_file]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--observations", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    for p in write_set(args.out, args.patients, args.observations, args.seed):
        print(p, p.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
