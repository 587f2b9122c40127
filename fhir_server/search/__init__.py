"""FHIR R4 search: parameter registry, write-time index values, typed requests, one module per
parameter type, includes and paging. ``docs/search.md`` tells the whole story."""
