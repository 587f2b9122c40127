"""One module per kind of profile constraint, each a plain function over one item.

``cardinality``, ``values`` (fixed/pattern), ``bindings``, ``types`` (type and
reference-target narrowing), ``slicing`` and ``invariants`` are called by
the walker in ``fhir_server.profiles.validator`` for every instance item the
rule tree reaches; they only append issues to the shared ``Context``.
"""
