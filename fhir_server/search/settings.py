"""Search limits, read once from ``FHIR_SEARCH_*`` environment variables.

The general paging settings (``default_count``, ``max_count``) live in
``fhir_server.settings``; these are the bounds that keep one search from
costing the whole server: how many ids a chain or ``_has`` may feed into the
outer query, how many resources ``_include`` may add, how deep chains and
``:iterate`` may go.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class SearchSettings(BaseSettings):
    """Each field maps to ``FHIR_SEARCH_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="FHIR_SEARCH_", extra="ignore")

    max_chain_ids: int = 1000  # ids a chained / _has sub-query may return
    max_chain_depth: int = 4
    max_include: int = 1000  # resources _include + _revinclude may add to one page
    max_iterate_depth: int = 3
    max_criteria: int = 30  # parameters in one search
    max_or_values: int = 100  # comma-separated values in one parameter
    max_value_length: int = 512
    max_wildcards: int = 4  # '%' in one :wildcard value
    windowed_paging: bool = True  # id windows for deep pages (see storage.search_query)
    scan_budget: int = 20000  # documents one page may examine when residual filters drop some
    # Which parameters get a MongoDB index: "default" (fhir_server/data/search-indexes.json
    # plus the IG's own parameters), "all", or a comma list of Type.code / *.code to add
    # to the defaults. Every index is paid on every write of its type.
    indexes: str = "default"


@lru_cache(maxsize=1)
def get_search_settings() -> SearchSettings:
    return SearchSettings()
