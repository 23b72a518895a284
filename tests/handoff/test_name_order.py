"""Names are shown in their own script's order: 山田 太郎, but Emily Carter (never "Carter Emily")."""

import json

import pytest

from bridge.timeline import display_name, lead_summary
from bridge.worker.notify import notice_line


@pytest.mark.parametrize("lastname, firstname, shown", [
    ("山田", "太郎", "山田 太郎"),
    ("ヤマダ", "タロウ", "ヤマダ タロウ"),
    ("Carter", "Emily", "Emily Carter"),
    ("Carter", None, "Carter"),
    (None, "Emily", "Emily"),
])
def test_display_name(lastname, firstname, shown):
    assert display_name({"lastname": lastname, "firstname": firstname}) == shown


def test_the_handoff_notice_puts_a_western_given_name_first():
    line = notice_line({"email": "emily.carter@northwind.example",
                        "record": {"lastname": "Carter", "firstname": "Emily", "company": "Northwind Cloud Inc."}})
    assert line.startswith("Emily Carter ")
    assert notice_line({"record": {"lastname": "山田", "firstname": "太郎"}}).startswith("山田 太郎 ")


def test_lead_lists_and_timelines_use_the_same_order():
    row = {"id": 1, "properties": json.dumps({"lastname": "Carter", "firstname": "Emily"})}
    assert lead_summary(row)["name"] == "Emily Carter"
