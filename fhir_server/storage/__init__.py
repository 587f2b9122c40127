"""Persistence: the ``Repository`` protocol (``repository``) and its MongoDB implementation.

Storage owns all execution: reading and writing versions in transactions
(``mongo``), compiling search criteria to queries (``query``), paging
(``paging``), includes (``includes``), search pages and totals (``search``),
indexes and reindexing (``indexes``), and the embedded database process
(``embedded``). It knows nothing of HTTP or FHIR REST semantics, and nothing
above it knows MongoDB.
"""
