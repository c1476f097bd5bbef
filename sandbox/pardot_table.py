"""Pardot sandbox storage: one object's rows with their ordered and hash indexes, and the
parsed query (QuerySpec) that the v5 API hands to PardotOrg.query."""
from __future__ import annotations

from dataclasses import dataclass, field

from sortedcontainers import SortedList

from sandbox import pardot_fields as pf


@dataclass
class QuerySpec:
    """A parsed v5 query: inclusive int bounds per sortable field, order, email, deleted."""
    order: str = "id"
    desc: bool = False
    bounds: dict = field(default_factory=dict)      # field -> [lo|None, hi|None]
    email: str | None = None
    deleted: str = "false"                         # "false" | "true" | "all"
    limit: int = 200


class _Table:
    def __init__(self, obj: str):
        self.obj = obj
        self.rows: dict[int, dict] = {}
        self.by_email: dict[str, set[int]] = {}
        self.by_sfid: dict[str, set[int]] = {}
        self.idx = {"id": SortedList(), "createdAt": SortedList(), "updatedAt": SortedList()}
        self.next_id = 1
        self.blank = {name: None for name in pf.FIELDS[obj]}

    @staticmethod
    def _multi_add(index: dict, key, row_id: int) -> None:
        if key:
            index.setdefault(key.lower() if isinstance(key, str) else key, set()).add(row_id)

    @staticmethod
    def _multi_remove(index: dict, key, row_id: int) -> None:
        if key:
            k = key.lower() if isinstance(key, str) else key
            ids = index.get(k)
            if ids is not None:
                ids.discard(row_id)
                if not ids:
                    del index[k]

    def add(self, row: dict) -> None:
        rid = row["id"]
        self.rows[rid] = row
        self.idx["id"].add(rid)
        self.idx["createdAt"].add((row["createdAt"], rid))
        self.idx["updatedAt"].add((row["updatedAt"], rid))
        self._multi_add(self.by_email, row.get("email"), rid)
        self._multi_add(self.by_sfid, row.get("salesforceId"), rid)
        self.next_id = max(self.next_id, rid + 1)

    def bulk_add(self, rows: list[dict]) -> None:
        for row in rows:
            rid = row["id"]
            self.rows[rid] = row
            self._multi_add(self.by_email, row.get("email"), rid)
            self._multi_add(self.by_sfid, row.get("salesforceId"), rid)
        self.idx["id"].update(r["id"] for r in rows)
        self.idx["createdAt"].update((r["createdAt"], r["id"]) for r in rows)
        self.idx["updatedAt"].update((r["updatedAt"], r["id"]) for r in rows)
        if rows:
            self.next_id = max(self.next_id, max(r["id"] for r in rows) + 1)

    def replace(self, old: dict, new: dict) -> None:
        rid = old["id"]
        self.rows[rid] = new
        if old["updatedAt"] != new["updatedAt"]:
            self.idx["updatedAt"].remove((old["updatedAt"], rid))
            self.idx["updatedAt"].add((new["updatedAt"], rid))
        for name, index in (("email", self.by_email), ("salesforceId", self.by_sfid)):
            if old.get(name) != new.get(name):
                self._multi_remove(index, old.get(name), rid)
                self._multi_add(index, new.get(name), rid)
