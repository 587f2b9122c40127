"""The IG the server loads by default is the source ``ig/``: one rule, no second copy to forget."""

from __future__ import annotations

from pathlib import Path

import fhir_server
from fhir_server.settings import DEFAULT_IG_DIR, Settings

from ._ig import IG_DIR


def test_default_ig_is_package_data() -> None:
    package = Path(fhir_server.__file__).resolve().parent
    assert package / "data" / "ig" == DEFAULT_IG_DIR
    assert Settings().ig_dir == DEFAULT_IG_DIR


def test_packaged_ig_has_exactly_the_source_files() -> None:
    packaged = {p.name: p.read_bytes() for p in DEFAULT_IG_DIR.iterdir() if p.is_file()}
    source = {p.name: p.read_bytes() for p in IG_DIR.iterdir() if p.is_file()}
    assert packaged.keys() == source.keys()
    assert [name for name in source if packaged[name] != source[name]] == []
