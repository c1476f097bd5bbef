"""Issue 11: paging through a query costs O(page) per request, not O(N) -- a 1,000,000-record
org is read in 500 Salesforce or 1,000 Pardot pages, so per-page work proportional to the org
(re-running or sorting the query, copying the result) would take minutes. The work each request
does is counted here, never timed."""
from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox import sf_query

N = 9000
EMPTY = {"leads": 0, "contacts": 0, "person_accounts": 0, "prospects": 0, "users": 1, "campaigns": 0}


def test_sf_query_locator_pages_neither_rerun_the_query_nor_project_more_than_their_page(
        fresh, control, sf_client, monkeypatch):
    control.post("seed", {**EMPTY, "leads": N})
    runs, rendered = [], []
    select, render_rows = sf_query.soql.select, sf_query.render_rows
    monkeypatch.setattr(sf_query.soql, "select", lambda *a, **kw: runs.append(1) or select(*a, **kw))
    monkeypatch.setattr(sf_query, "render_rows",
                        lambda version, obj, rows, *rest: rendered.append(len(rows)) or render_rows(
                            version, obj, rows, *rest))

    page = sf_client.query("SELECT Id, Email, SystemModstamp FROM Lead ORDER BY SystemModstamp ASC, Id ASC")
    records = list(page["records"])
    while not page["done"]:
        page = sf_client.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        records.extend(page["records"])

    assert len(runs) == 1                      # the query ran once, for the first page
    assert rendered == [2000, 2000, 2000, 2000, 1000]
    assert len({r["Id"] for r in records}) == N
    assert [r["SystemModstamp"] for r in records] == sorted(r["SystemModstamp"] for r in records)


def test_sf_query_locator_serves_the_result_as_it_was_when_the_query_ran(fresh, control, sf_client):
    """The locator keeps the matching records themselves (never mutated in place), so a write
    made between pages does not change the pages still to come."""
    control.post("seed", {**EMPTY, "leads": 2500})
    page = sf_client.query("SELECT Id, Title FROM Lead ORDER BY SystemModstamp, Id")
    last = control.get("records/salesforce/Lead")["records"][-1]["Id"]
    sf_client.Lead.update(last, {"Title": "Changed after the query"})
    rest = sf_client.query_more(page["nextRecordsUrl"], identifier_is_url=True)["records"]
    assert rest[-1]["Id"] == last and rest[-1]["Title"] != "Changed after the query"
    assert sf_client.Lead.get(last)["Title"] == "Changed after the query"


class CountingRows(dict):
    """The prospects table's rows, counting lookups by id (each row a query page visits)."""
    reads = 0

    def __getitem__(self, key):
        self.reads += 1
        return super().__getitem__(key)


@pytest.mark.parametrize("order", ["updatedAt", "id"])
def test_pardot_query_pages_visit_only_their_own_rows(fresh, control, pardot_session, order):
    control.post("seed", {**EMPTY, "prospects": N})
    table = fresh.pardot._tables["prospects"]
    table.rows = rows = CountingRows(table.rows)
    url = fresh.info["pardot_base_url"] + "/api/v5/objects/prospects"
    params = {"fields": "id,email,updatedAt", "limit": 1000, "deleted": "all", "orderBy": order}
    if order == "updatedAt":
        params["updatedAtAfterOrEqualTo"] = "2000-01-01T00:00:00+00:00"
    seen, visits = [], []
    while True:
        rows.reads = 0
        resp = pardot_session.get(url, params=params, timeout=60)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        visits.append(rows.reads)
        seen.extend(p["id"] for p in body["values"])
        if not body["nextPageToken"]:
            break
        params = {"nextPageToken": body["nextPageToken"]}
    assert len(seen) == len(set(seen)) == N
    assert max(visits) <= 1001, visits        # a page of 1,000 and the one row that says "more"


def test_a_reset_ends_open_query_locators(fresh, control, sf_client):
    """A locator holds its result's records; after a reset they belong to no org any more."""
    control.post("seed", {**EMPTY, "leads": 2500})
    page = sf_client.query("SELECT Id FROM Lead")
    control.post("reset")
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf_client.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    assert exc.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
