"""Build letter messages with the email package at less cost per letter.

`EmailMessage` under `policy.default` parses each header value as it is set, and
its header registry makes a new header class for every header. A pass builds
hundreds of letters with the same few headers, so this module:

- gives messages a policy whose header registry makes each header class once;
- stores a header as raw text, as the parser does for a received message, when
  its value is plain: printable ASCII without an encoded word for a subject or
  X- header, atoms and dot-atoms for addresses and the Message-ID. The generator
  then writes it unchanged when it fits on one line and folds a longer one with
  the same header class, so the bytes are the ones the parsed header gives (the
  tests compare both);
- shares the header objects that repeat (From, Date, the part headers), whose
  folded text is kept per policy;
- makes the text and HTML parts with header objects built once, and encodes
  their bodies as `set_content(..., cte="quoted-printable")` does.

Headers with other text (names with accents, most subjects) are set as before.
"""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Sequence
from email import policy, quoprimime
from email.generator import BytesGenerator
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from functools import lru_cache
from io import BytesIO

CHARSET = "utf-8"


class CachedHeaderRegistry(HeaderRegistry):
    """A header registry that makes each header class once instead of per header."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._classes: dict[str, type] = {}

    def map_to_type(self, name, cls):
        self._classes.clear()
        super().map_to_type(name, cls)

    def __getitem__(self, name):
        key = name.lower()
        header_class = self._classes.get(key)
        if header_class is None:
            header_class = self._classes[key] = super().__getitem__(name)
        return header_class


# `policy.default`, `policy.SMTP` and `policy.SMTPUTF8` with the cached registry.
MESSAGE_POLICY = policy.default.clone(header_factory=CachedHeaderRegistry())
SMTP_POLICY = MESSAGE_POLICY.clone(linesep="\r\n")
SMTPUTF8_POLICY = SMTP_POLICY.clone(utf8=True)


class _FoldOnce:
    """Mixin for a header object shared by many messages: each fold is kept.

    A header's fold depends on its parse tree and on the policy's line length,
    line end and utf8 setting only (`email._header_value_parser` reads no other
    policy attribute), so those three are the key.
    """

    def fold(self, *, policy):
        key = (policy.max_line_length, policy.linesep, policy.utf8)
        folds = self.__dict__.setdefault("_folds", {})
        folded = folds.get(key)
        if folded is None:
            folded = folds[key] = super().fold(policy=policy)
        return folded


_SHARED_CLASSES: dict[type, type] = {}


def shared_header(name: str, value: str | Address | Sequence[Address]):
    """Return a header object to set in many messages; it folds once per policy."""
    header_class = MESSAGE_POLICY.header_factory[name]
    shared = _SHARED_CLASSES.get(header_class)
    if shared is None:
        shared = type(header_class.__name__, (_FoldOnce, header_class), {})
        _SHARED_CLASSES[header_class] = shared
    return shared(name, value)


# Header objects are immutable, so every part shares these.
_PART_HEADERS = {
    subtype: (
        shared_header("Content-Type", f'text/{subtype}; charset="{CHARSET}"'),
        shared_header("Content-Transfer-Encoding", "quoted-printable"),
    )
    for subtype in ("plain", "html")
}
_MIME_VERSION = shared_header("MIME-Version", "1.0")
_ALTERNATIVE = shared_header("Content-Type", "multipart/alternative")


def verbatim(value: str) -> bool:
    """Return True for unstructured text the generator writes as it is.

    Printable ASCII without an encoded word parses into tokens that give the text
    back, so the folded header is the text itself while it fits on one line.
    """
    return (
        value.isascii()
        and value.isprintable()
        and "=?" not in value
        and value == value.strip()
        and "  " not in value
    )


# Plain atoms and dot-atoms: the address and Message-ID parsers give them back
# unchanged. Anything else (quoted names, invalid ids) may be rewritten by the
# parser, so it is set as a header object.
_ATOMS = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")
_DOT_ATOM = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
_ADDR_SPEC = re.compile(f"{_DOT_ATOM}@{_DOT_ATOM}")
_MESSAGE_ID = re.compile(f"<{_DOT_ATOM}@{_DOT_ATOM}>")
_ADDRESS_HEADERS = frozenset(("from", "to", "cc", "bcc", "reply-to", "sender"))
_UNSTRUCTURED = frozenset(("subject", "comments"))


def _plain_address(address: Address) -> bool:
    name = address.display_name
    return (not name or _ATOMS.fullmatch(name) is not None) and (
        _ADDR_SPEC.fullmatch(address.addr_spec) is not None
    )


def raw_text(name: str, value: str | Address | Sequence[Address]) -> str | None:
    """Return the header value as raw text when that gives the same bytes, else None."""
    key = name.lower()
    if key in _ADDRESS_HEADERS:
        addresses = [value] if isinstance(value, Address) else value
        if isinstance(addresses, str) or not addresses:
            return None
        if all(map(_plain_address, addresses)):
            return ", ".join(str(address) for address in addresses)
        return None
    if not isinstance(value, str):
        return None
    if key == "message-id":
        return value if _MESSAGE_ID.fullmatch(value) else None
    if (key in _UNSTRUCTURED or key.startswith("x-")) and value and verbatim(value):
        return value
    return None


def prepare_header(name: str, value: str | Address | Sequence[Address], shared=False):
    """Return the raw text where `raw_text` allows, else the parsed header object.

    With `shared`, the header object is one that `shared_header` makes.
    """
    text = raw_text(name, value)
    if text is not None:
        return text
    if shared:
        return shared_header(name, value)
    return MESSAGE_POLICY.header_factory(name, value)


def add_header(message: EmailMessage, name: str, prepared) -> None:
    """Add a header made by `prepare_header`."""
    if hasattr(prepared, "name"):
        message[name] = prepared  # a header object is stored as it is
    else:
        message.set_raw(name, prepared)


def set_header(message: EmailMessage, name: str, value: str | Sequence[Address]):
    """Add a header from text or addresses, as raw text where `raw_text` allows."""
    add_header(message, name, prepare_header(name, value))


@lru_cache(maxsize=64)
def date_header(text: str):
    """Return the Date header object; letters of one pass share a few seconds."""
    return shared_header("Date", text)


def new_message() -> EmailMessage:
    return EmailMessage(policy=MESSAGE_POLICY)


def quoted_printable(text: str) -> str:
    """Return the body as `set_content(text, cte="quoted-printable")` encodes it."""
    lines = text.encode(CHARSET).splitlines()
    body = b"\n".join(lines) + b"\n"
    return quoprimime.body_encode(
        body.decode("latin-1"), MESSAGE_POLICY.max_line_length
    )


def text_part(subtype: str, text: str, *, mime_version: bool) -> EmailMessage:
    """Return a text/plain or text/html part with a quoted-printable UTF-8 body."""
    part = new_message()
    content_type, encoding = _PART_HEADERS[subtype]
    part["Content-Type"] = content_type
    part["Content-Transfer-Encoding"] = encoding
    if mime_version:
        part["MIME-Version"] = _MIME_VERSION
    part.set_payload(quoted_printable(text))
    return part


def add_alternatives(message: EmailMessage, text: str, html: str) -> None:
    """Make `message` multipart/alternative with a text and an HTML part.

    The headers and parts are those of `set_content(text)` followed by
    `add_alternative(html, subtype="html")`, both quoted-printable UTF-8.
    """
    message["MIME-Version"] = _MIME_VERSION
    message["Content-Type"] = _ALTERNATIVE
    message.attach(text_part("plain", text, mime_version=False))
    message.attach(text_part("html", html, mime_version=True))


# As in email.generator: a boundary is a random number of this many digits.
_BOUNDARY_WIDTH = len(repr(sys.maxsize - 1))


class _Generator(BytesGenerator):
    """BytesGenerator that looks for a boundary in the parts without a regex first.

    The stock generator compiles a new regular expression for every message to
    check that the parts (bytes here) do not contain the boundary line. A boundary
    line contains "--" and the boundary, so the regex runs only when they do too.
    """

    @classmethod
    def _make_boundary(cls, text=None):
        token = random.randrange(sys.maxsize)
        boundary = ("=" * 15) + f"{token:0{_BOUNDARY_WIDTH}d}" + "=="
        if text is None or ("--" + boundary).encode("ascii") not in text:
            return boundary
        candidate = boundary
        counter = 0
        while True:
            line = cls._compile_re(
                "^--" + re.escape(candidate) + "(--)?$", re.MULTILINE
            )
            if not line.search(text):
                return candidate
            candidate = boundary + "." + str(counter)
            counter += 1


def as_bytes(message: EmailMessage, message_policy) -> bytes:
    """Return `message.as_bytes(policy=message_policy)`, with `_Generator`."""
    stream = BytesIO()
    _Generator(stream, mangle_from_=False, policy=message_policy).flatten(message)
    return stream.getvalue()


def serialize(message: EmailMessage) -> bytes:
    """Return the message as SMTP bytes, with SMTPUTF8 for a non-ASCII address."""
    try:
        return as_bytes(message, SMTP_POLICY)
    except (UnicodeEncodeError, ValueError):
        # SMTPUTF8 writes UTF-8 where the SMTP policy fails to encode a header.
        return as_bytes(message, SMTPUTF8_POLICY)
