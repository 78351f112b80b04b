"""The ready-made redactor for captured content: personal data and secrets that must not reach a backend.

Content capture (see :mod:`.content`) hands every text it exports to a redactor, a plain
``Callable[[str], str]``. :func:`redact` is the one bedrock-otel ships; pass it as
``instrument(capture_content=..., content_redactor="default")`` or write your own (any callable works,
including one that wraps this one). It replaces, in this order:

* SigV4 signatures and credentials in query strings and ``Authorization`` values;
* AWS session tokens, access key ids (``AKIA``/``ASIA``/… + 16) and secret-key-looking strings
  (40 characters of the secret-key alphabet mixing upper case, lower case and digits);
* bearer tokens (``Bearer <token>``);
* email addresses;
* payment card numbers — 13 to 19 digits, spaces or dashes allowed, and only when the Luhn check passes,
  so order numbers and timestamps survive;
* phone numbers: ``+`` and 7 to 15 digits (groups allowed), or national numbers written in groups ending
  in four digits (``(415) 555-2671``, ``020 7946 0958``); dates and lists of numbers survive.

Each match becomes ``[REDACTED:<kind>]``. Patterns are compiled once; a text without any candidate
character class costs a handful of regex scans.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Match, Optional, Pattern, Sequence, Tuple

Redactor = Callable[[str], str]

#: kinds :func:`redact` knows, in the order they are applied
KINDS = ("aws_signature", "aws_session_token", "aws_access_key", "aws_secret_key", "bearer_token", "email",
         "card_number", "phone")

_B64 = r"A-Za-z0-9+/"
_PATTERNS: Tuple[Tuple[str, Pattern[str]], ...] = (
    # SigV4 query parameters and Authorization header fields (presigned URLs, echoed requests).
    ("aws_signature", re.compile(r"(?i)\b(x-amz-signature=|x-amz-credential=|x-amz-security-token="
                                 r"|signature=(?=[0-9a-f]{16}))[^&\s,;\"']+")),
    # STS session tokens are long base64 blobs that start with these encoded prefixes.
    ("aws_session_token", re.compile(r"(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz)[" + _B64 + r"=]{20,}")),
    ("aws_access_key", re.compile(r"(?<![A-Z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|AIPA|ABIA|ACCA)"
                                  r"[A-Z0-9]{16}(?![A-Z0-9])")),
    # 40 characters of the secret-key alphabet with upper, lower and a digit: not a hex digest, not a word.
    ("aws_secret_key", re.compile(r"(?<![" + _B64 + r"=])(?=[" + _B64 + r"]{0,39}[A-Z])(?=[" + _B64 + r"]{0,39}[a-z])"
                                  r"(?=[" + _B64 + r"]{0,39}[0-9])[" + _B64 + r"]{40}(?![" + _B64 + r"=])")),
    ("bearer_token", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{8,}=*")),
    ("email", re.compile(r"(?i)(?<![\w.%+-])[\w.%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b")),
    ("card_number", re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")),
    # International (+ and groups) or national with separators ending in four digits: not dates, not lists.
    ("phone", re.compile(r"(?<![\w+])(?<!\d[ .-])(?:\+\d{1,3}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,4})){1,5}"
                         r"|(?:\(\d{2,4}\) ?|\d{2,4}[ .-])\d{3,4}[ .-]\d{4})(?!\w|[ .-]\d)")),
)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a digit string (what makes 16 digits a plausible card number)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _replacement(kind: str) -> Callable[[Match[str]], str]:
    marker = f"[REDACTED:{kind}]"
    if kind == "aws_signature":  # keep the parameter name, drop its value
        return lambda match: match.group(1) + marker
    if kind == "card_number":
        def card(match: Match[str]) -> str:
            digits = re.sub(r"[ -]", "", match.group(0))
            return marker if luhn_valid(digits) else match.group(0)
        return card
    if kind == "phone":
        def phone(match: Match[str]) -> str:
            digits = sum(char.isdigit() for char in match.group(0))
            return marker if 7 <= digits <= 15 else match.group(0)
        return phone
    return lambda _match: marker


class PatternRedactor:
    """A redactor built from named patterns; ``PatternRedactor()`` is :func:`redact`."""

    __slots__ = ("_rules",)

    def __init__(self, kinds: Optional[Iterable[str]] = None,
                 extra: Sequence[Tuple[str, Pattern[str]]] = ()) -> None:
        wanted = set(KINDS if kinds is None else kinds)
        unknown = wanted.difference(KINDS)
        if unknown:
            raise ValueError(f"unknown redaction kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
        rules = [(pattern, _replacement(kind)) for kind, pattern in _PATTERNS if kind in wanted]
        rules += [(pattern, _replacement(kind)) for kind, pattern in extra]
        self._rules = tuple(rules)

    def __call__(self, text: str) -> str:
        for pattern, replace in self._rules:
            text = pattern.sub(replace, text)
        return text

    def __repr__(self) -> str:
        return f"PatternRedactor({len(self._rules)} rules)"


redact: Redactor = PatternRedactor()
"""The ready redactor: every kind in :data:`KINDS`."""


_CREDENTIALS = PatternRedactor(kinds=("aws_signature", "aws_session_token", "aws_access_key", "aws_secret_key",
                                      "bearer_token"))
# AWS signature-mismatch errors quote the canonical request, which includes the x-amz-security-token header.
_SIGNING_DETAIL = re.compile(r"(?s)(The Canonical String for this request should have been|"
                             r"The String-to-Sign should have been).*")


def scrub_credentials(text: str) -> str:
    """What bedrock-otel applies to every error description it records, whatever the settings.

    Error messages are the one place request details can come back from AWS (a signature mismatch quotes
    the canonical request); credentials, signatures and bearer tokens are removed from them.
    """
    return _CREDENTIALS(_SIGNING_DETAIL.sub(r"\1 [REDACTED]", text))
