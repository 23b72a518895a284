"""100,000 records seeded in bulk and scanned back through a connector over loopback, at the paging minimum."""

from __future__ import annotations

import math
import time

import pytest

from connectors.registry import load_connectors
from connectors.testing import SpentBudget

COUNT = 100_000
# system -> (bulk object, connector object, a record, records per page, the sandbox endpoints a scan calls)
SYSTEMS = {
    "hubspot": ("contacts", "contacts", lambda i: {"email": f"lead{i}@example.co.jp", "company": f"株式会社{i}"},
                200, ("hubspot.search",)),
    "salesforce": ("leads", "Lead", lambda i: {"LastName": "山田", "Company": f"株式会社{i}"},
                   2000, ("salesforce.query", "salesforce.query_more")),
    "kintone": ("1", "1", lambda i: {"company": f"株式会社{i}", "hubspot_contact_id": str(i)},
                500, ("kintone.records_read",)),
}
ID_FIELD = {"hubspot": "hs_object_id", "salesforce": "Id", "kintone": "$id"}
#: Far above the 5-10 s a scan takes on two cores; a read that filters or sorts the whole store per page takes minutes.
SCAN_SECONDS = 60


@pytest.fixture
def config(config):
    config.hubspot.search_rate_limit = 1_000_000  # the sandbox's clock stands still in tests
    return config


@pytest.mark.slow
@pytest.mark.parametrize("system", list(SYSTEMS))
def test_100000_records_scan_back_in_id_order_at_the_paging_minimum(system, sandbox, control, clock):
    bulk_object, object_, record, page, endpoints = SYSTEMS[system]
    records = [record(i) for i in range(COUNT)]
    reply = control.post("/bulk", json={"system": system, "object": bulk_object, "records": records})
    assert reply.status_code == 201
    ids = reply.json()["ids"]
    assert len(ids) == COUNT
    built, problems = load_connectors(sandbox.env(), clock=clock, budget=SpentBudget(spent=False))
    assert problems == []
    connector = built[system]

    started = time.perf_counter()
    scanned = [str(r[ID_FIELD[system]]) for r in connector.scan(object_, [])]
    elapsed = time.perf_counter() - started

    assert scanned == ids
    calls = sum(sandbox.calls.count(e) for e in endpoints)
    assert calls == sum(sandbox.calls.count(e, 200) for e in endpoints) == math.ceil(COUNT / page)
    assert elapsed < SCAN_SECONDS
