"""Salesforce REST: SOQL query / queryAll and their query locators (nextRecordsUrl)."""
from __future__ import annotations

import dataclasses
import re
import secrets
import threading
import time
from collections import OrderedDict

from flask import Blueprint, request

from . import soql
from .context import app_state
from .sf_rest import json_response, org, record_url, router
from .sf_schema import schema_for
from .sf_values import SfError, render

DEFAULT_BATCH = 2000
MAX_CURSORS = 50
CURSOR_TTL_S = 15 * 60
_CURSORS = "sandbox.sf_cursors"

bp = Blueprint("query", __name__)
route = router(bp)
cursors = app_state(_CURSORS)


class QueryCursors:
    """Open query locators: full result kept once, each page is a slice (O(page) per request)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple] = OrderedDict()

    def open(self, sobject: str, rows: list, batch: int) -> str:
        loc = "01g" + secrets.token_hex(8)[:15]
        with self._lock:
            self._items[loc] = (sobject, rows, batch, time.monotonic())
            while len(self._items) > MAX_CURSORS:
                self._items.popitem(last=False)
        return loc

    def get(self, loc: str):
        with self._lock:
            item = self._items.get(loc)
            if item is None or time.monotonic() - item[3] > CURSOR_TTL_S:
                self._items.pop(loc, None)
                return None
            self._items[loc] = item[:3] + (time.monotonic(),)
            self._items.move_to_end(loc)
            return item

    def close(self, loc: str) -> None:
        with self._lock:
            self._items.pop(loc, None)

    def clear(self) -> None:
        """Every open locator ends (an org reset: their results hold the old org's records)."""
        with self._lock:
            self._items.clear()


def clear_cursors(app) -> None:
    cursor_set = app.extensions.get(_CURSORS)
    if cursor_set is not None:
        cursor_set.clear()


@bp.record_once
def _init(state) -> None:
    state.app.extensions[_CURSORS] = QueryCursors()


def run_query(version: str, text: str | None, include_deleted: bool, endpoint: str):
    if not text:
        raise SfError("MALFORMED_QUERY", "A query string has to be specified")
    try:
        query = soql.parse(text)
    except soql.SoqlError as exc:
        raise SfError(exc.code, exc.message) from None
    schema = schema_for(query.sobject)
    if schema is None:
        err = query.invalid_type_error()
        raise SfError(err.code, err.message)
    add_id = not query.is_count and "id" not in [f.lower() for f in query.fields]
    run = query
    if add_id:
        try:  # keep attributes.url even when Id is not selected (as Salesforce does)
            run = dataclasses.replace(query, fields=[*query.fields, "Id"])
        except (TypeError, ValueError):
            add_id = False
    try:
        # The matching records themselves (never mutated: a write stores a new dict), so the
        # locator holds a snapshot and each page projects only its own rows.
        result, fields = soql.select(run, org.rows(schema.name, include_deleted), schema.soql_types)
    except soql.SoqlError as exc:
        raise SfError(exc.code, exc.message) from None
    if isinstance(result, int):
        return json_response({"totalSize": result, "done": True, "records": []})
    batch = batch_size()
    first = result[:batch]
    body = {"totalSize": len(result), "done": len(result) <= batch,
            "records": render_rows(version, schema.name, first, fields, add_id)}
    if len(result) > batch:
        loc = cursors.open(schema.name, (result, fields, add_id), batch)
        body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{loc}-{batch}"
    return json_response(body)


def render_rows(version, obj, rows, fields, drop_id):
    """The page's records as JSON: the selected fields in select order (Id dropped when the query
    did not select it; attributes.url still names the record)."""
    shown = [f for f in fields if not (f == "Id" and drop_id)]
    out = []
    for row in rows:
        rec = {"attributes": {"type": obj, "url": record_url(version, obj, row.get("Id"))}}
        for key in shown:
            rec[key] = render(row.get(key))
        out.append(rec)
    return out


def batch_size() -> int:
    opts = request.headers.get("Sforce-Query-Options", "")
    m = re.search(r"batchSize\s*=\s*(\d+)", opts)
    if not m:
        return DEFAULT_BATCH
    return min(max(int(m.group(1)), 200), 2000)


def query_more(version, locator, endpoint):
    loc, _, offset = locator.rpartition("-")
    item = cursors.get(loc) if offset.isdigit() else None
    if item is None:
        raise SfError("INVALID_QUERY_LOCATOR", "invalid query locator")
    obj, (rows, fields, drop_id), batch, _ = item
    start = int(offset)
    page = rows[start:start + batch]
    done = start + batch >= len(rows)
    body = {"totalSize": len(rows), "done": done, "records": render_rows(version, obj, page, fields, drop_id)}
    if done:
        cursors.close(loc)
    else:
        body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{loc}-{start + batch}"
    return json_response(body)


@route("/query")
def query(version):
    return run_query(version, request.args.get("q"), False, "query")


@route("/queryAll")
def query_all(version):
    return run_query(version, request.args.get("q"), True, "queryAll")


@route("/query/<locator>")
def query_next(version, locator):
    return query_more(version, locator, "query")


@route("/queryAll/<locator>")
def query_all_next(version, locator):
    return query_more(version, locator, "queryAll")
