"""Records kept compactly read like the dicts they replace, and share repeated values."""

from __future__ import annotations

import json

import pytest

from bridge.reconcile.rows import Rows


def test_a_row_reads_like_its_record():
    table = Rows()
    first = table.add({"Id": "00Q1", "Company": "サンプル", "Score": 12, "Tags": ["a", "b"], "Empty": None})
    second = table.add({"Id": "00Q2", "Phone": "03-1234-5678"})  # fields the first lacked, and not the first's
    assert dict(first) == {"Id": "00Q1", "Company": "サンプル", "Score": 12, "Tags": ["a", "b"], "Empty": None}
    assert dict(second) == {"Id": "00Q2", "Phone": "03-1234-5678"}
    assert first.get("Phone") is None and first.get("Phone", "-") == "-" and "Phone" not in first
    assert second.get("Company") is None and "Company" not in second and first["Empty"] is None
    with pytest.raises(KeyError):
        second["Company"]
    assert {**first, "Id": "x"}["Company"] == "サンプル"
    assert json.loads(json.dumps(dict(second))) == {"Id": "00Q2", "Phone": "03-1234-5678"}
    assert len(first) == 5 and len(second) == 2


def test_repeated_text_is_kept_once():
    table = Rows()
    rows = [table.add({"Status": "".join(["Open - ", "Not Contacted"])}) for _ in range(3)]
    assert rows[0]["Status"] is rows[1]["Status"] is rows[2]["Status"]
