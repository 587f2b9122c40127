"""Custom and standard ``$operations``, one module each, registered with their definitions."""
