"""Salesforce-style 18-character ids with real key prefixes and the case-safe suffix."""
from __future__ import annotations

import itertools
import threading

KEY_PREFIXES = {
    "Lead": "00Q",
    "Contact": "003",
    "Account": "001",
    "User": "005",
    "Campaign": "701",
    "Opportunity": "006",
    "RecordType": "012",
    "Organization": "00D",
    "BusinessUnit": "0Uv",
    "QueryLocator": "01g",
}
PREFIX_TO_OBJECT = {v: k for k, v in KEY_PREFIXES.items()}

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def case_safe_suffix(id15: str) -> str:
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX[bits])
    return "".join(out)


def to18(value: str) -> str | None:
    """Normalise a 15- or 18-char id to 18 chars; None when it is not a well-formed id."""
    if not isinstance(value, str) or len(value) not in (15, 18) or not value.isalnum() or not value.isascii():
        return None
    id18 = value[:15] + case_safe_suffix(value[:15])
    if len(value) == 18 and value[15:].upper() != id18[15:]:
        return None
    return id18


def _base62(n: int, width: int) -> str:
    chars = []
    for _ in range(width):
        n, r = divmod(n, 62)
        chars.append(_BASE62[r])
    return "".join(reversed(chars))


class IdFactory:
    """Thread-safe id source; `pod` keeps ids of different sandboxes/orgs apart."""

    def __init__(self, pod: str = "8d", start: int = 1):
        self._pod = pod
        self._counter = itertools.count(start)
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        with self._lock:
            n = next(self._counter)
        id15 = prefix + self._pod + "0" + _base62(n, 9)
        return id15 + case_safe_suffix(id15)
