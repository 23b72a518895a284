"""Versioned schema changes, applied in order by sqlite-utils' Migrations; append, never edit, a migration."""

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("bridge")


@migrations(name="0001_inbox_rejected_changes")
def inbox_rejected_changes(db: Database) -> None:
    db["inbox"].create(
        {
            "id": int,
            "source": str,
            "event_type": str,
            "dedupe_key": str,
            "record_key": str,
            "occurred_at": str,
            "received_at": str,
            "body": str,
            "status": str,  # pending | processing | done | dead
            "attempts": int,
            "next_attempt_at": str,
            "lease_owner": str,
            "lease_expires_at": str,
            "last_error": str,
            "finished_at": str,
        },
        pk="id",
        not_null={"source", "event_type", "dedupe_key", "record_key", "occurred_at", "received_at",
                  "body", "status", "attempts", "next_attempt_at"},
        defaults={"status": "pending", "attempts": 0},
    )
    db["inbox"].create_index(["source", "dedupe_key"], unique=True)
    # The worker only ever looks at open rows; a partial index keeps that cheap as done rows pile up.
    db.execute(
        "CREATE INDEX inbox_open ON inbox(source, record_key, occurred_at) "
        "WHERE status IN ('pending', 'processing')"
    )
    db["inbox"].create_index(["status", "id"])
    db["rejected"].create(
        {"id": int, "source": str, "received_at": str, "reason": str, "content_type": str, "body": bytes},
        pk="id",
        not_null={"source", "received_at", "reason", "body"},
    )
    db["changes"].create(
        {"id": int, "inbox_id": int, "source": str, "record_key": str, "change_type": str,
         "occurred_at": str, "fields": str, "recorded_at": str},
        pk="id",
        not_null={"inbox_id", "source", "record_key", "change_type", "occurred_at", "fields", "recorded_at"},
        foreign_keys=[("inbox_id", "inbox", "id")],
    )
    db["changes"].create_index(["inbox_id"], unique=True)
    db["changes"].create_index(["source", "record_key", "occurred_at"])


@migrations(name="0002_mapping_versions_audit_logins")
def mapping_versions_audit_logins(db: Database) -> None:
    db["mapping_versions"].create(
        {"id": int, "file": str, "version": int, "text": str, "diff": str, "author": str, "created_at": str,
         "note": str},
        pk="id",
        not_null={"file", "version", "text", "diff", "author", "created_at"},
    )
    db["mapping_versions"].create_index(["file", "version"], unique=True)
    db["audit_log"].create(
        {"id": int, "at": str, "actor": str, "action": str, "target": str, "detail": str},
        pk="id",
        not_null={"at", "actor", "action"},
    )
    db["login_failures"].create({"id": int, "client": str, "at": str}, pk="id", not_null={"client", "at"})
    db["login_failures"].create_index(["client", "at"])


@migrations(name="0003_leads_activities")
def leads_activities(db: Database) -> None:
    db["leads"].create(
        {"id": int, "hubspot_id": str, "email": str, "dirty": int, "dirty_since": str, "properties": str,
         "score": int, "stage": str, "temperature": str, "excluded": str, "handed_off_at": str,
         "handoff_criterion": str, "salesforce_id": str, "kintone_id": str, "evaluated_at": str,
         "created_at": str},
        pk="id",
        not_null={"dirty", "created_at"},
        defaults={"dirty": 0},
    )
    db["leads"].create_index(["hubspot_id"], unique=True)
    db["leads"].create_index(["email"], unique=True)
    db.execute("CREATE INDEX leads_dirty ON leads(dirty_since) WHERE dirty = 1")
    db["activities"].create(
        {"id": str, "lead_id": int, "type": str, "occurred_at": str, "received_at": str, "properties": str,
         "inbox_id": int},
        pk="id",
        not_null={"lead_id", "type", "occurred_at", "received_at"},
        foreign_keys=[("lead_id", "leads", "id")],
    )
    db["activities"].create_index(["lead_id", "occurred_at"])


@migrations(name="0004_evaluation_outbox")
def evaluation_outbox(db: Database) -> None:
    leads = db["leads"]
    leads.add_column("touches", int, not_null_default=0)  # bumped by every touch: a re-touch mid-evaluation re-queues
    leads.add_column("needs_read", int, not_null_default=1)  # the HubSpot record changed since it was last read
    leads.add_column("read_at", str)
    leads.add_column("eval_lease_until", str)
    leads.add_column("summary", str)  # the latest decision in words
    leads.add_column("handoff_reason", str)  # the decision that handed the lead off, in words
    db["decisions"].create(
        {"id": int, "lead_id": int, "evaluated_at": str, "score": int, "stage": str, "temperature": str,
         "qualifies": int, "excluded": str, "criterion": str, "summary": str, "explanation": str},
        pk="id",
        not_null={"lead_id", "evaluated_at", "score", "stage", "temperature", "qualifies", "summary",
                  "explanation"},
        foreign_keys=[("lead_id", "leads", "id")],
    )
    db["decisions"].create_index(["lead_id", "id"])
    db["outbox"].create(
        {
            "id": int,
            "lead_id": int,
            "kind": str,  # upsert | writeback | notify
            "target": str,  # the route name for upserts; hubspot; slack
            "status": str,  # pending | processing | done | dead
            "attempts": int,
            "next_attempt_at": str,
            "created_at": str,
            "lease_owner": str,
            "lease_expires_at": str,
            "last_error": str,
            "fields": str,  # JSON list of the fields a permanent error names
            "result": str,  # JSON: outcome and record id, or what was written
            "finished_at": str,
        },
        pk="id",
        not_null={"lead_id", "kind", "target", "status", "attempts", "next_attempt_at", "created_at"},
        defaults={"status": "pending", "attempts": 0},
        foreign_keys=[("lead_id", "leads", "id")],
    )
    # At most one open item per lead, kind and target: enqueueing twice is a no-op.
    db.execute("CREATE UNIQUE INDEX outbox_open_item ON outbox(lead_id, kind, target) "
               "WHERE status IN ('pending', 'processing')")
    db.execute("CREATE INDEX outbox_ready ON outbox(kind, target, next_attempt_at) WHERE status = 'pending'")
    db["outbox"].create_index(["lead_id", "id"])
    db["outbox"].create_index(["status", "id"])
    db["own_writes"].create(
        {"id": int, "system": str, "record_id": str, "property": str, "value": str, "written_at": str},
        pk="id",
        not_null={"system", "record_id", "property", "written_at"},
    )
    db["own_writes"].create_index(["system", "record_id", "property"])
    db["own_writes"].create_index(["written_at"])


@migrations(name="0005_worker_heartbeat")
def worker_heartbeat(db: Database) -> None:
    # One row per worker process (its lease owner), stamped every few seconds by its loop: /readyz reads
    # the newest stamp to tell whether anyone is processing the inbox.
    db["worker_heartbeats"].create(
        {"owner": str, "started_at": str, "beat_at": str},
        pk="owner",
        not_null={"started_at", "beat_at"},
    )
    db["worker_heartbeats"].create_index(["beat_at"])


@migrations(name="0006_alerts")
def alerts(db: Database) -> None:
    # One row per failure episode of an outbox target: opened by its first dead letter, counted while it
    # lasts, recovered by the next clean write. The alert and the recovery notice are each sent once;
    # the state is here so it survives restarts and several workers agree on it.
    db["alerts"].create(
        {
            "id": int,
            "target": str,  # the outbox target: a route name, hubspot, slack
            "kind": str,  # the outbox kind of the first dead letter: upsert | writeback | notify
            "state": str,  # open | recovered
            "first_at": str,
            "last_at": str,  # the episode's latest dead letter
            "count": int,  # dead letters in this episode
            "last_reason": str,
            "fields": str,  # JSON list: every field the episode's dead letters named
            "notified_at": str,  # the alert was delivered (NULL: pending)
            "recovered_at": str,
            "recovered_notified_at": str,  # the recovery notice was delivered (NULL: pending or not yet due)
            "next_try_at": str,  # when a pending notice may be sent: back-off after a failed send, or a lease
            "tries": int,  # failed sends of the pending notice
            "send_error": str,  # why the last send failed
        },
        pk="id",
        not_null={"target", "kind", "state", "first_at", "last_at", "count", "last_reason", "next_try_at", "tries"},
        defaults={"state": "open", "count": 1, "tries": 0},
    )
    # At most one unfinished episode per target: a new dead letter joins it instead of alerting again.
    db.execute("CREATE UNIQUE INDEX alerts_unfinished ON alerts(target) WHERE recovered_notified_at IS NULL")


@migrations(name="0007_admin_sessions")
def admin_sessions(db: Database) -> None:
    # Server-side admin sessions: the cookie holds a random id, this table its SHA-256 (so reading the
    # database yields no usable cookie) and the password generation, which never leaves the server.
    db["admin_sessions"].create(
        {"key": str, "generation": str, "client": str, "created_at": str, "last_seen_at": str, "expires_at": str},
        pk="key",
        not_null={"generation", "client", "created_at", "last_seen_at", "expires_at"},
    )
    # The login throttle also counts failures from all clients together within the window.
    db["login_failures"].create_index(["at"])


@migrations(name="0008_lead_records_retry_by_time_budget")
def lead_records_retry_by_time_budget(db: Database) -> None:
    # A lead's records in every system, one row each, so any system's webhook finds its lead; replaces the
    # per-system columns. `version` and `fields`: the newest change applied from that record (stale ones are
    # recognised by it).
    db["lead_records"].create(
        {"id": int, "lead_id": int, "system": str, "object": str, "record_id": str, "version": str, "fields": str,
         "linked_at": str, "updated_at": str},
        pk="id",
        not_null={"lead_id", "system", "object", "record_id", "linked_at", "updated_at"},
        foreign_keys=[("lead_id", "leads", "id")],
    )
    db["lead_records"].create_index(["system", "object", "record_id"], unique=True)
    db["lead_records"].create_index(["lead_id"])
    db.execute("INSERT OR IGNORE INTO lead_records (lead_id, system, object, record_id, linked_at, updated_at) "
               "SELECT id, 'hubspot', 'contacts', hubspot_id, created_at, created_at FROM leads "
               "WHERE hubspot_id IS NOT NULL")
    # The records the outbox created or updated say where they are (system, object, id).
    db.execute("INSERT OR IGNORE INTO lead_records (lead_id, system, object, record_id, linked_at, updated_at) "
               "SELECT lead_id, json_extract(result, '$.system'), json_extract(result, '$.object'), "
               "json_extract(result, '$.id'), finished_at, finished_at FROM outbox "
               "WHERE kind = 'upsert' AND status = 'done' AND json_extract(result, '$.id') IS NOT NULL "
               "ORDER BY id")
    for column in ("salesforce_id", "kintone_id"):
        db.execute(f"ALTER TABLE leads DROP COLUMN {column}")
    # A change knows its lead (when the worker found one), so a timeline needs no system's key format.
    db.execute("ALTER TABLE changes ADD COLUMN lead_id INTEGER REFERENCES leads(id)")
    db.execute("UPDATE changes SET lead_id = (SELECT lead_id FROM lead_records WHERE system = 'hubspot' "
               "AND 'contact:' || record_id = changes.record_key) WHERE source = 'hubspot'")
    db.execute("UPDATE changes SET lead_id = (SELECT lead_id FROM lead_records WHERE system = 'salesforce' "
               "AND object || ':' || record_id = changes.record_key) WHERE source = 'salesforce'")
    db.execute("UPDATE changes SET lead_id = (SELECT lead_id FROM lead_records WHERE system = 'kintone' "
               "AND 'app' || object || ':' || record_id = changes.record_key) WHERE source = 'kintone'")
    db["changes"].create_index(["lead_id", "occurred_at"])
    # Retries by time: when an item first failed decides when it is given up (a rate limit costs nothing).
    for table in ("inbox", "outbox"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN first_failed_at TEXT")
    # API calls made, per system and pool, shared by every process: the budget that keeps them under each
    # system's limits. Rows older than the longest window are deleted as calls are taken.
    db["api_calls"].create({"id": int, "system": str, "pool": str, "priority": str, "at": str, "calls_limit": int,
                            "window_seconds": float}, pk="id",
                           not_null={"system", "pool", "priority", "at", "calls_limit", "window_seconds"})
    db["api_calls"].create_index(["system", "pool", "at"])


@migrations(name="0009_sales_feedback")
def sales_feedback(db: Database) -> None:
    # A sales record that changed is read again (in a batch) before its events are told: webhooks are notifications.
    # `converted`: a Salesforce Lead converted into a Contact and an Opportunity is never written to again.
    for column, kind in (("needs_read", "INTEGER NOT NULL DEFAULT 0"), ("dirty_since", "TEXT"),
                         ("read_lease_until", "TEXT"), ("converted", "INTEGER NOT NULL DEFAULT 0")):
        db.execute(f"ALTER TABLE lead_records ADD COLUMN {column} {kind}")
    db.execute("CREATE INDEX lead_records_to_read ON lead_records(dirty_since) WHERE needs_read = 1")
    # One normalised sales event per thing sales did or decided, in the lead's handoff cycle: the timeline shows
    # them, HubSpot hears them, the SLA timers count on them.
    db["sales_events"].create(
        {"id": int, "lead_id": int, "cycle": int, "kind": str, "system": str, "object": str, "record_id": str,
         "occurred_at": str, "recorded_at": str, "reason": str, "reason_value": str, "details": str},
        pk="id",
        not_null={"lead_id", "cycle", "kind", "system", "object", "record_id", "occurred_at", "recorded_at"},
        foreign_keys=[("lead_id", "leads", "id")],
    )
    db["sales_events"].create_index(["lead_id", "cycle", "id"])
    db["sales_events"].create_index(["kind", "occurred_at"])
    # A lead can be handed off again after sales gives it back (recycled, disqualified): one cycle each, exactly
    # once per cycle. The lead row holds the open cycle; closed ones are kept here.
    db["leads"].add_column("cycle", int, not_null_default=1)
    db["leads"].add_column("cycle_started_at", str)
    db["handoffs"].create(
        {"id": int, "lead_id": int, "cycle": int, "handed_off_at": str, "criterion": str, "reason": str,
         "closed_at": str, "closed_by": str, "closed_reason": str},
        pk="id",
        not_null={"lead_id", "cycle", "handed_off_at", "closed_at", "closed_by"},
        foreign_keys=[("lead_id", "leads", "id")],
    )
    db["handoffs"].create_index(["lead_id", "cycle"], unique=True)


@migrations(name="0010_sla_clocks")
def sla_clocks(db: Database) -> None:
    # One SLA clock per lead and handoff cycle, kept as an item of the leased queue: due when something is to be
    # done (a reminder, the deadline) or when a sales event arrived (`wakes` counts those, so an event that lands
    # while the clock is being assessed is not lost). NULL next_attempt_at: waiting for sales, nothing timed.
    db["sla_clocks"].create(
        {"id": int, "lead_id": int, "cycle": int, "started_at": str, "policy": str, "deadline": str, "state": str,
         "touched_at": str, "follow_ups": int, "done": str, "owner": str, "ended_at": str, "ended_by": str,
         "wakes": int, "status": str, "attempts": int, "next_attempt_at": str, "first_failed_at": str,
         "lease_owner": str, "lease_expires_at": str, "last_error": str, "finished_at": str},
        pk="id",
        not_null={"lead_id", "cycle", "started_at", "status", "attempts", "follow_ups", "wakes", "state"},
        defaults={"status": "pending", "attempts": 0, "follow_ups": 0, "wakes": 0, "state": "waiting", "done": "[]"},
        foreign_keys=[("lead_id", "leads", "id")],
    )
    db["sla_clocks"].create_index(["lead_id", "cycle"], unique=True)
    db.execute("CREATE INDEX sla_clocks_due ON sla_clocks(next_attempt_at) WHERE status = 'pending'")
    db["sla_clocks"].create_index(["status", "deadline"])
    # What each clock did, for the lead's timeline and the SLA page; `notify` rows are sent to people (Slack) once.
    db["sla_log"].create(
        {"id": int, "lead_id": int, "cycle": int, "kind": str, "at": str, "details": str, "notify": int,
         "notified_at": str},
        pk="id", not_null={"lead_id", "cycle", "kind", "at", "notify"}, defaults={"notify": 0},
        foreign_keys=[("lead_id", "leads", "id")],
    )
    db["sla_log"].create_index(["lead_id", "id"])
    db["sla_log"].create_index(["kind", "at"])  # /metrics and the SLA page count breaches and touches by time
    db.execute("CREATE INDEX sla_log_to_send ON sla_log(lead_id) WHERE notify = 1 AND notified_at IS NULL")


@migrations(name="0011_reconciliation_cursors")
def reconciliation_cursors(db: Database) -> None:
    # One row per reconciliation run (`bridge reconcile`, or the worker's schedule): what it compared, what it found
    # by kind, what it repaired; the report pages read these. `status`: running | planned (a plan only) | applied
    # (--doit) | refused (the guardrail) | failed | interrupted (found running by a later run: killed half-way).
    db["reconcile_runs"].create(
        {"id": int, "mode": str, "status": str, "doit": int, "force": int, "since": str, "started_at": str,
         "finished_at": str, "compared": str, "found": str, "repaired": int, "needs_person": int, "calls": str,
         "share": float, "error": str, "trigger": str},
        pk="id", not_null={"mode", "status", "doit", "force", "started_at", "trigger"},
        defaults={"repaired": 0, "needs_person": 0, "doit": 0, "force": 0},
    )
    db["reconcile_runs"].create_index(["status", "id"])
    # Each drift a run found: which lead and record, the field and both values, which side changed (when, by whom,
    # where the system says), and what --doit does (`action`) or why a person must decide (`reason`).
    db["reconcile_items"].create(
        {"id": int, "run_id": int, "kind": str, "system": str, "object": str, "lead_id": int, "record_id": str,
         "field": str, "expected": str, "actual": str, "changed_side": str, "changed_at": str, "changed_by": str,
         "action": str, "reason": str, "details": str, "lead_name": str, "repaired_at": str},
        pk="id", not_null={"run_id", "kind", "system", "action", "reason"},
        foreign_keys=[("run_id", "reconcile_runs", "id")],
    )
    db["reconcile_items"].create_index(["run_id", "kind", "id"])
    db["reconcile_items"].create_index(["lead_id", "id"])
    # Named positions that survive restarts: the last successful reconciliation per mode, the catch-up polls.
    db["cursors"].create({"name": str, "value": str, "updated_at": str}, pk="name",
                         not_null={"value", "updated_at"})


@migrations(name="0012_heartbeat_lanes")
def heartbeat_lanes(db: Database) -> None:
    # Which lanes each worker process runs (comma-joined): /readyz names the lanes nobody has run lately, so a stuck
    # writes process shows even while the intake process beats. NULL (a worker of an earlier version): every lane.
    db["worker_heartbeats"].add_column("lanes", str)


@migrations(name="0013_outbox_again")
def outbox_again(db: Database) -> None:
    # A write queued for a lead while the same write is being sent (its item is in flight and may have read the
    # lead already) marks that item `again`: once it is done, the write is queued anew, so the news is not lost.
    db["outbox"].add_column("again", int, not_null_default=0)
