"""Refused bodies are kept, but not without limit: past BRIDGE_REJECTED_MAX_MB per source, a refused body is kept cut
to its first 4 KiB with the reason saying so (the activities token sits in a public website tag, so anyone holding it
could otherwise fill the disk with malformed 1 MiB bodies kept for 90 days). Other sources keep their budget."""

from bridge.store.ingest import CUT_BODY_BYTES
from tests.helpers import post_hubspot
from tests.test_activities import TOKEN


def malformed(size: int) -> bytes:
    return b'[{"id": "' + b"x" * size + b'"'  # cut short: not JSON


def post(client, body: bytes):
    return client.post("/api/activities", data=body,
                       headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})


def test_past_the_budget_refused_bodies_are_kept_cut_and_say_so(make_settings, clock):
    from bridge.app import create_app

    app = create_app(make_settings(BRIDGE_REJECTED_MAX_MB="1"), clock=clock)
    client, store = app.test_client(), app.extensions["bridge"].store
    for _ in range(3):  # 3 × 400 KB: the third would pass 1 MB
        assert post(client, malformed(400_000)).status_code == 400
    rows = store.conn.db.execute("SELECT length(body), reason FROM rejected ORDER BY id").fetchall()
    assert [size for size, _ in rows[:2]] == [400_010, 400_010]
    assert rows[2][0] == CUT_BODY_BYTES and "body cut from 400010 to 4096 bytes" in rows[2][1]
    assert "BRIDGE_REJECTED_MAX_MB" in rows[2][1]
    # A short body is still kept whole, and another source has its own budget.
    assert post(client, b"[{").status_code == 400
    assert store.conn.db.execute("SELECT length(body) FROM rejected ORDER BY id DESC LIMIT 1").fetchone()[0] == 2
    assert post_hubspot(client, None, body=malformed(400_000)).status_code == 400  # signed, malformed
    assert store.conn.db.execute("SELECT source, length(body) FROM rejected ORDER BY id DESC LIMIT 1").fetchone() == \
        ("hubspot", 400_010)
    assert client.post("/webhooks/hubspot", data=malformed(400_000)).status_code == 401  # unsigned: never kept
