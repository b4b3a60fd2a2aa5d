"""Pattern-based PII detectors for the entities that patterns can find honestly.

The GenAI engine uses Presidio (pattern recognizers plus NER models). Local Arthur has no model, so
it detects only the entities whose shape can be checked: e-mail addresses, phone numbers, credit
cards (Luhn checksum), US social security numbers, IP addresses, URLs and IBANs (mod-97 checksum).
The others (names, places, dates, licences…) are listed in `UNDETECTED` and reported as not checked
rather than guessed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from arthur_api.rules import PII_ENTITIES


@dataclass(frozen=True)
class PiiSpan:
    entity: str
    span: str
    start: int


_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# North-American style numbers and international ones with a leading +: 10 to 15 digits in groups.
_PHONE = re.compile(
    r"(?<![\w+])(?<!\d[ .-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}(?![\w-]|[ .-]\d)"
)
_CARD = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
_SSN = re.compile(r"(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])")
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)\]]", re.IGNORECASE)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _iban_ok(iban: str) -> bool:
    compact = iban.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _emails(text: str) -> Iterator[PiiSpan]:
    for match in _EMAIL.finditer(text):
        yield PiiSpan("EMAIL_ADDRESS", match.group(), match.start())


def _phones(text: str) -> Iterator[PiiSpan]:
    for match in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 10 <= len(digits) <= 15 and not _SSN.fullmatch(match.group()):
            yield PiiSpan("PHONE_NUMBER", match.group(), match.start())


def _cards(text: str) -> Iterator[PiiSpan]:
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            yield PiiSpan("CREDIT_CARD", match.group(), match.start())


def _ssns(text: str) -> Iterator[PiiSpan]:
    for match in _SSN.finditer(text):
        area, group, serial = match.groups()
        # Numbers the SSA never issues.
        if area in {"000", "666"} or area.startswith("9") or group == "00" or serial == "0000":
            continue
        yield PiiSpan("US_SSN", match.group(), match.start())


def _ips(text: str) -> Iterator[PiiSpan]:
    for pattern in (_IPV4, _IPV6):
        for match in pattern.finditer(text):
            try:
                ipaddress.ip_address(match.group())
            except ValueError:
                continue
            yield PiiSpan("IP_ADDRESS", match.group(), match.start())


def _urls(text: str) -> Iterator[PiiSpan]:
    for match in _URL.finditer(text):
        yield PiiSpan("URL", match.group(), match.start())


def _ibans(text: str) -> Iterator[PiiSpan]:
    for match in _IBAN.finditer(text):
        if _iban_ok(match.group()):
            yield PiiSpan("IBAN_CODE", match.group(), match.start())


# In priority order: a span that overlaps one found by an earlier detector is dropped (the digits of
# a card number or an IBAN also look like a phone number).
DETECTORS: dict[str, Callable[[str], Iterator[PiiSpan]]] = {
    "EMAIL_ADDRESS": _emails,
    "URL": _urls,
    "IBAN_CODE": _ibans,
    "CREDIT_CARD": _cards,
    "US_SSN": _ssns,
    "IP_ADDRESS": _ips,
    "PHONE_NUMBER": _phones,
}
DETECTED: tuple[str, ...] = tuple(entity for entity in PII_ENTITIES if entity in DETECTORS)
UNDETECTED: tuple[str, ...] = tuple(entity for entity in PII_ENTITIES if entity not in DETECTORS)


def find_pii(text: str, *, disabled: frozenset[str] = frozenset(), allow_list: tuple[str, ...] = ()) -> list[PiiSpan]:
    """Every detectable PII span in ``text``, in reading order.

    Entities in ``disabled`` are not reported; a span equal to an ``allow_list`` entry (ignoring
    case: Presidio's allow list matches whole spans) is not reported either.
    """
    allowed = {item.casefold() for item in allow_list}
    taken: list[range] = []
    found: list[PiiSpan] = []
    for entity, detector in DETECTORS.items():
        for span in detector(text):
            where = range(span.start, span.start + len(span.span))
            if any(where.start < other.stop and other.start < where.stop for other in taken):
                continue
            taken.append(where)
            if entity not in disabled and span.span.casefold() not in allowed:
                found.append(span)
    return sorted(found, key=lambda span: (span.start, span.entity))
