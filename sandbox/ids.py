"""Salesforce-style 18-character ids with real key prefixes and the case-safe suffix."""
from __future__ import annotations

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


# Upper-case letters to "1", everything else to "0": a chunk's bits read right to left.
_UPPER_BITS = str.maketrans({chr(c): ("1" if 65 <= c <= 90 else "0") for c in range(128)})


def case_safe_suffix(id15: str) -> str:
    """Three characters, one per five-character chunk: bit i set when the chunk's character i is
    upper case (A-Z). Done with translate and int(…, 2) on the whole id: ids are made per record."""
    bits = id15.translate(_UPPER_BITS)
    return _SUFFIX[int(bits[4::-1], 2)] + _SUFFIX[int(bits[9:4:-1], 2)] + _SUFFIX[int(bits[14:9:-1], 2)]


def to18(value: str) -> str | None:
    """Normalise a 15- or 18-char id to 18 chars; None when it is not a well-formed id."""
    if not isinstance(value, str) or len(value) not in (15, 18) or not value.isalnum() or not value.isascii():
        return None
    id18 = value[:15] + case_safe_suffix(value[:15])
    if len(value) == 18 and value[15:].upper() != id18[15:]:
        return None
    return id18


_LOW = 62 ** 5


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
        self._next = start
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        with self._lock:
            n = self._next
            self._next += 1
        id15 = prefix + self._pod + "0" + _base62(n, 9)
        return id15 + case_safe_suffix(id15)

    def new_many(self, prefix: str, count: int) -> list[str]:
        """`count` consecutive ids (bulk inserts): the counter is taken once, and the id's first
        ten characters are built once per 62**5 ids."""
        with self._lock:
            first = self._next
            self._next += count
        out, head, head_n = [], "", -1
        for n in range(first, first + count):
            high, low = divmod(n, _LOW)
            if high != head_n:
                head, head_n = prefix + self._pod + "0" + _base62(high, 4), high
            id15 = head + _base62(low, 5)
            out.append(id15 + case_safe_suffix(id15))
        return out
