"""The professionals directory: the regional ROR, or the local mock of it."""
