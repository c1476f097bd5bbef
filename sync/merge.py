"""Field behaviours (R14, R15): the three-way merge of one linked pair.

`base` holds the values last written to both sides (the link's fingerprint,
R18), so we can tell which side changed a field since the last sync."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from .mapping import Mapping


def normalize(value):
    """One representation per value, so equal data compares equal across the APIs."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value



def same(a, b, pardot_field: str) -> bool:
    a, b = normalize(a), normalize(b)
    if pardot_field == "email" and isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return a == b


def fingerprint(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class MergeResult:
    to_salesforce: dict = field(default_factory=dict)  # pardot field → value to write
    to_pardot: dict = field(default_factory=dict)
    merged: dict = field(default_factory=dict)  # the values both sides hold afterwards


def merge(mappings: list[Mapping], sobject: str, sf: dict, pardot: dict, base: dict | None,
          sf_modstamp: datetime, pardot_updated: datetime) -> MergeResult:
    result = MergeResult()
    base = base or {}
    sf_newer = sf_modstamp >= pardot_updated
    for m in mappings:
        f = m.pardot_field
        if not m.field_for(sobject):
            result.merged[f] = normalize(pardot.get(f))
            continue
        s, p = normalize(sf.get(f)), normalize(pardot.get(f))
        if same(s, p, f):
            result.merged[f] = s
            continue
        if m.behaviour == "salesforce":
            winner, loser_is_sf = s, False
        elif m.behaviour == "pardot":
            winner, loser_is_sf = p, True
        else:
            s_changed = f not in base or not same(s, base.get(f), f)
            p_changed = f not in base or not same(p, base.get(f), f)
            if s_changed and not p_changed:
                sf_wins = True
            elif p_changed and not s_changed:
                sf_wins = False
            else:
                sf_wins = sf_newer
            winner, loser_is_sf = (s, False) if sf_wins else (p, True)
        loser = s if loser_is_sf else p
        # R15: an empty value never overwrites a non-empty one unless the mapping says so.
        if winner is None and loser is not None and not m.overwrite_with_empty:
            result.merged[f] = loser
            if f not in base:
                # Never synced on this pair (a new link, a just-created lead): the empty side
                # takes the value, or `merged` would claim both sides hold what one lacks (R18).
                (result.to_pardot if loser_is_sf else result.to_salesforce)[f] = loser
            continue
        result.merged[f] = winner
        if loser_is_sf:
            result.to_salesforce[f] = winner
        else:
            result.to_pardot[f] = winner
    return result
