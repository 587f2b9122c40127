"""Persistence: the repository protocol and its MongoDB implementation.

Storage knows nothing of HTTP or FHIR REST semantics; it stores versions,
enforces optimistic concurrency and runs filters built from a SearchRequest.
"""
