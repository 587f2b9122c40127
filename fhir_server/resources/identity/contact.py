"""Contact details of a record: e-mail and phone numbers checked and written one way.

The booklet's "Compléter les coordonnées du patient": address, e-mail and
mobile can be given at creation and completed later. Phone numbers are
parsed as French numbers unless written internationally (``+32 ...``) and
stored in E.164 (``+33612345678``), the form SMS gateways and other systems
expect; an e-mail address must be one (``name@domain.tld``, no spaces) and
its domain is lower-cased. What cannot be a phone number or an e-mail
address is refused with the element it was found in — a coordinator would
otherwise find out the day a notification does not arrive.
"""

from __future__ import annotations

import copy
from typing import Any

import phonenumbers

from fhir_server.errors import Issue

DEFAULT_REGION = "FR"  # numbers written without a country code are French
_PHONE_SYSTEMS = frozenset({"phone", "sms"})


def normalise_phone(value: str) -> str | None:
    """The E.164 form of a phone number, or None when it is not a valid number."""
    try:
        parsed = phonenumbers.parse(value, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str) -> str | None:
    """The address with its domain lower-cased, or None when it is not an e-mail address."""
    text = value.strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    if text.count("@") != 1 or any(c.isspace() for c in text) or len(text) > 254:
        return None
    local, domain = text.split("@")
    labels = domain.split(".")
    if not local or len(labels) < 2 or any(not label for label in labels):
        return None
    if any(not (c.isalnum() or c == "-") for label in labels for c in label):
        return None
    if len(labels[-1]) < 2:
        return None
    return f"{local}@{domain.lower()}"


def normalise_telecom(
    resource: dict[str, Any], issues: list[Issue], msg_prefix: str = "MRTC-IDN"
) -> dict[str, Any]:
    """``resource`` with its (and its contacts') phone numbers in E.164; problems in ``issues``."""
    out = copy.deepcopy(resource)
    _telecoms(out.get("telecom"), "Patient.telecom", issues, msg_prefix)
    for i, contact in enumerate(out.get("contact") or []):
        if isinstance(contact, dict):
            _telecoms(contact.get("telecom"), f"Patient.contact[{i}].telecom", issues, msg_prefix)
    return out


def _telecoms(items: Any, where: str, issues: list[Issue], msg_prefix: str) -> None:
    for i, point in enumerate(items or []):
        if not isinstance(point, dict) or not isinstance(point.get("value"), str):
            continue
        system, value = point.get("system"), point["value"]
        if system in _PHONE_SYSTEMS:
            phone = normalise_phone(value)
            if phone is None:
                issues.append(
                    Issue(
                        "error",
                        "business-rule",
                        f"'{value}' is not a valid phone number (a French number, or an "
                        "international one starting with +)",
                        (f"{where}[{i}].value",),
                        f"{msg_prefix}-030",
                    )
                )
            else:
                point["value"] = phone
        elif system == "email":
            email = normalise_email(value)
            if email is None:
                issues.append(
                    Issue(
                        "error",
                        "business-rule",
                        f"'{value}' is not a valid e-mail address",
                        (f"{where}[{i}].value",),
                        f"{msg_prefix}-031",
                    )
                )
            else:
                point["value"] = email
