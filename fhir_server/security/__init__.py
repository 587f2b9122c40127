"""Authentication, access policy, break-glass and audit."""
