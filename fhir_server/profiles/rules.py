"""Stable message ids of profile-validation issues (greppable in user reports).

Invariant failures carry the constraint's own key (``mrtc-pat-1``,
``obs-7``) as their message id instead, so a report points straight at the
rule in the implementation guide.
"""

from __future__ import annotations

# The write path wraps error-level issues in errors.ProfileViolation with id MRTC-PRF-000
# (fhir_server.profiles.service.MSG_PROFILE_VIOLATION).

UNKNOWN_PROFILE = "MRTC-PRF-001"  # meta.profile / profile names a profile we do not hold
WRONG_TYPE = "MRTC-PRF-002"  # the profile constrains another resource type
MIN_CARDINALITY = "MRTC-PRF-003"  # fewer occurrences than min (also for slices)
MAX_CARDINALITY = "MRTC-PRF-004"  # more occurrences than max (also for slices)
FIXED_VALUE = "MRTC-PRF-005"  # value differs from fixed[x]
PATTERN_VALUE = "MRTC-PRF-006"  # value does not contain pattern[x]
REQUIRED_BINDING = "MRTC-PRF-007"  # code outside a required value set
EXTENSIBLE_BINDING = "MRTC-PRF-008"  # no coding from an extensible value set (warning)
TYPE_NOT_ALLOWED = "MRTC-PRF-009"  # choice type not among the profile's types
TARGET_NOT_ALLOWED = "MRTC-PRF-010"  # reference to a resource type the profile excludes
CLOSED_SLICING = "MRTC-PRF-011"  # item matching no slice of a closed slicing
INVARIANT_ERROR = "MRTC-PRF-012"  # an invariant could not be evaluated (information)
UNKNOWN_EXTENSION = "MRTC-PRF-013"  # an extension slice names a definition we do not hold
SLICE_ORDER = "MRTC-PRF-014"  # ordered slicing / openAtEnd order broken
EXTENSION_CONTEXT = "MRTC-PRF-015"  # a known extension used where its context forbids
TARGET_PROFILE = "MRTC-PRF-016"  # a contained target does not meet the target profile
UNKNOWN_CODE = "MRTC-PRF-017"  # a code not defined in a complete local code system
WRONG_DISPLAY = "MRTC-PRF-018"  # a display matching neither display nor designations (warning)
