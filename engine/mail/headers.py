"""E-mail headers from sheet values: reject header injection, keep Unicode intact.

Names and addresses come from workbooks that anyone may edit. A carriage return or
line feed in one would start a new header (or the body) in the message, so such a
value is rejected with the row it came from instead of being sent.
"""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.utils import parseaddr

from engine.findings import EngineError, Finding

_ADDRESS = re.compile(
    r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$"
)
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def check_header_text(value: str, field: str, where: str) -> str:
    """Return `value` unless it contains a line break, which is rejected."""
    if _LINE_BREAKS.search(value):
        raise EngineError(
            Finding(
                where=where,
                message=f"the {field} {value!r} contains a line break, "
                "which could add headers to the e-mail; the letter was not sent.",
                fix="Remove the line break from the cell.",
                code="mail-header-injection",
            )
        )
    return value


def make_address(display_name: str | None, address: str, where: str) -> Address:
    """Return a header Address after checking the name and the address."""
    check_header_text(address, "e-mail address", where)
    if display_name:
        check_header_text(display_name, "name", where)
    if not _ADDRESS.match(address.strip()):
        raise EngineError(
            Finding(
                where=where,
                message=f"the e-mail address {address!r} is invalid; the letter was not sent.",
                fix="Enter an address of the form name@example.com.",
                code="mail-invalid-address",
            )
        )
    username, _, domain = address.strip().rpartition("@")
    return Address(display_name=display_name or "", username=username, domain=domain)


def parse_sender(sender: str, where: str) -> Address:
    """Return the From address for `Name <address>` or a bare address."""
    check_header_text(sender, "sender", where)
    name, address = parseaddr(sender)
    return make_address(name or None, address or sender, where)
