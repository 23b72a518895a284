"""Fake servers for `responses`: each system's paged listing over a list of record ids, as scans read them."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

SEARCH_CAP = 10_000


def hubspot_search(ids: list[str], bodies: list[dict[str, Any]] | None = None):
    """A responses callback for POST …/search: the records past the hs_object_id GT filter, sorted by id, paged by
    `after`; a page reaching past 10,000 results is refused with 400, as HubSpot refuses it."""

    def answer(request):
        body = json.loads(request.body)
        if bodies is not None:
            bodies.append(body)
        filters = [f for group in body.get("filterGroups") or [] for f in group["filters"]]
        floors = [int(f["value"]) for f in filters if f["propertyName"] == "hs_object_id" and f["operator"] == "GT"]
        matches = [i for i in ids if not floors or int(i) > max(floors)]
        offset, limit = int(body.get("after") or 0), int(body.get("limit", 10))
        if offset + limit > SEARCH_CAP:
            error = {"status": "error", "category": "VALIDATION_ERROR", "message": "paging past 10,000 results"}
            return 400, {}, json.dumps(error)
        page = matches[offset : offset + limit]
        reply: dict[str, Any] = {
            "total": len(matches),
            "results": [{"id": i, "properties": {"hs_object_id": i, "email": f"{i}@example.co.jp"}} for i in page],
        }
        if offset + limit < len(matches):
            reply["paging"] = {"next": {"after": str(offset + limit), "link": "https://api.hubapi.com/…"}}
        return 200, {}, json.dumps(reply)

    return answer


def salesforce_query(data_url: str, ids: list[str], sobject: str = "Lead"):
    """responses callbacks for GET {data_url}/query and …/query/<locator>: SOQL pages of the batch size asked for
    (default 2,000), following nextRecordsUrl; `WHERE Id > '…'` honoured. Returns (query URL pattern, callback)."""
    kept: dict[str, tuple[list[str], int]] = {}

    def page(rows: list[str], start: int, size: int, locator: str) -> tuple[int, dict, str]:
        end = start + size
        reply: dict[str, Any] = {
            "totalSize": len(rows),
            "done": end >= len(rows),
            "records": [{"attributes": {"type": sobject}, "Id": i} for i in rows[start:end]],
        }
        if end < len(rows):
            reply["nextRecordsUrl"] = f"/services/data/v62.0/query/{locator}-{end}"
        return 200, {}, json.dumps(reply)

    def answer(request):
        url = urlsplit(request.url)
        if url.path.endswith("/query"):
            soql = parse_qs(url.query)["q"][0]
            floor = re.search(r"WHERE Id > '([^']+)'", soql)
            rows = [i for i in ids if floor is None or i > floor[1]]
            size = int(re.search(r"batchSize=(\d+)", request.headers.get("Sforce-Query-Options", "")
                                 or "batchSize=2000")[1])
            locator = f"01g5g00000{len(kept):05d}AAA"
            kept[locator] = (rows, size)
            return page(rows, 0, size, locator)
        locator, _, start = url.path.rpartition("/")[2].partition("-")
        rows, size = kept[locator]
        return page(rows, int(start), size, locator)

    return re.compile(re.escape(data_url) + r"/query(/[^?]*)?(\?.*)?$"), answer


def kintone_records(ids: list[int], count: bool = True):
    """A responses callback for GET /k/v1/records.json: seek queries ($id > n order by $id asc limit m) over these
    record ids, with totalCount when asked for (and `count` is on)."""

    def answer(request):
        params = parse_qs(urlsplit(request.url).query)
        query = params["query"][0]
        floor = re.search(r"\$id > (\d+)", query)
        limit = int(re.search(r"limit (\d+)", query)[1])
        rows = [i for i in ids if floor is None or i > int(floor[1])]
        records = [
            {"$id": {"type": "__ID__", "value": str(i)}, "$revision": {"type": "__REVISION__", "value": "1"}}
            for i in rows[:limit]
        ]
        asked = params.get("totalCount") == ["true"] and count
        return 200, {}, json.dumps({"records": records, "totalCount": str(len(rows)) if asked else None})

    return answer
