"""The SLA report reads the owners of many leads by lead id: a query SQLite planned on the (system, object) index
read every record of the system once per 400 leads (13 s for the page at 100,000 open clocks; bench/sla.py now
measures it)."""


def test_owner_records_are_looked_up_by_lead_id(store, clock):
    statements = []
    store.conn.db.conn.set_trace_callback(statements.append)
    try:
        store.clocks.owner_records([1, 2, 3], [("salesforce", "Lead"), ("kintone", "7")])
    finally:
        store.conn.db.conn.set_trace_callback(None)
    (query,) = [s for s in statements if "FROM lead_records" in s]
    plan = " ".join(row[-1] for row in store.conn.db.execute(f"EXPLAIN QUERY PLAN {query}").fetchall())
    assert "lead_id" in plan and "record_id" not in plan, plan
