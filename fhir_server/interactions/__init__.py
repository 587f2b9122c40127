"""HTTP-free FHIR interactions: one module per interaction kind.

Each takes a ``Context`` and plain arguments and returns stored resources or
raises a typed error from ``fhir_server.errors``.
"""
