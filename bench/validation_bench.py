"""In-process cost of reading and checking a request body, before and after strict input.

Usage: ``python -m bench.validation_bench [--n 5000]``.

Times, on the REST benchmark's own Patient, weight Observation and 10-entry
transaction Bundle (``bench/rest_bench.py``), in one run so that ratios hold:

- reading the JSON text: ``orjson.loads`` alone (what the server did), the
  server's reader (``profiles/json_text.loads``: orjson plus the
  duplicate-key and depth checks), and the standard library's parser with an
  ``object_pairs_hook`` (the obvious exact duplicate-key check: a second parse);
- structural validation: the ``fhir.resources`` model parse the server used
  (lax pydantic), the same with ``strict=True`` (which its primitive types
  ignore), and the strict R4 JSON walk that replaced it
  (``resources/validation.check_structure``).

Prints microseconds per call (best of five repeats of ``--n`` calls).
"""

from __future__ import annotations

import argparse
import json
import timeit
from collections.abc import Callable
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from fhir_server.resources.validation import check_structure

from bench.rest_bench import make_patient, make_transaction, make_weight
from fhir_server.profiles import json_text
from fhir_server.settings import Settings


def _per_call_us(fn: Callable[[], object], n: int) -> float:
    return min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="calls per repeat")
    args = parser.parse_args()
    n = args.n
    depth = Settings().max_depth
    samples = {
        "Patient": make_patient(7),
        "Observation": make_weight("Patient/123", 7),
        "Bundle (10 entries)": make_transaction(7),
    }
    print(f"{'body':<22}{'bytes':>7}  {'orjson':>8}  {'server reader':>14}  {'json+hook':>10}")
    for name, body in samples.items():
        raw = orjson.dumps(body)
        a = _per_call_us(lambda raw=raw: orjson.loads(raw), n)
        b = _per_call_us(lambda raw=raw: json_text.loads(raw, max_depth=depth), n)
        c = _per_call_us(lambda raw=raw: json.loads(raw, object_pairs_hook=_unique_pairs), n)
        print(f"{name:<22}{len(raw):>7}  {a:>6.1f}us  {b:>12.1f}us  {c:>8.1f}us")
    print()
    print(f"{'resource':<22}{'pydantic lax':>13}  {'pydantic strict':>16}  {'strict walk':>12}")
    for name in ("Patient", "Observation"):
        body = samples[name]
        model = get_fhir_model_class(name)
        lax = _per_call_us(lambda m=model, b=body: m.model_validate(b), n // 5)
        strict = _per_call_us(lambda m=model, b=body: m.model_validate(b, strict=True), n // 5)
        walk = _per_call_us(lambda t=name, b=body: check_structure(t, b, max_depth=depth), n)
        print(f"{name:<22}{lax:>11.1f}us  {strict:>14.1f}us  {walk:>10.1f}us")


if __name__ == "__main__":
    main()
