"""The control API under /_sandbox: seed and read records, act as a user, configure, fail."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, jsonify, request

from connectors.sandbox.config import update_settings
from connectors.sandbox.controls import Failure
from connectors.sandbox.hubspot_store import HubSpotError
from connectors.sandbox.kintone_query import Query
from connectors.sandbox.kintone_schema import (
    FOLLOW_UP_MEMO,
    FOLLOW_UP_METHOD,
    FOLLOW_UP_RESULT,
    FOLLOW_UP_TIME,
    UI_USER,
    KintoneError,
)
from connectors.sandbox.kintone_store import MULTI, SINGLE, AppStore
from connectors.sandbox.salesforce_schema import RequestError, format_value
from connectors.sandbox.salesforce_store import SObjectStore

if TYPE_CHECKING:
    from connectors.sandbox.app import Sandbox

PREFIX = "/_sandbox"
#: The Salesforce objects the control API edits, by the collection in its URLs.
SALESFORCE_COLLECTIONS = {"leads": "Lead", "contacts": "Contact", "tasks": "Task", "opportunities": "Opportunity"}


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _records(body: dict[str, Any]) -> list[dict[str, Any]]:
    records = body.get("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise RequestError("BAD_REQUEST", 'expected {"records": [{field: value, …}, …]}')
    return records


def control_blueprint(sandbox: Sandbox) -> Blueprint:
    bp = Blueprint("sandbox", __name__, url_prefix=PREFIX)
    hubspot, salesforce, kintone = sandbox.hubspot, sandbox.salesforce, sandbox.kintone

    @bp.errorhandler(HubSpotError)
    def hubspot_error(error: HubSpotError) -> tuple[Response, int]:
        return jsonify(error=error.message, category=error.category, errors=error.errors), error.status

    @bp.errorhandler(RequestError)
    def salesforce_error(error: RequestError) -> tuple[Response, int]:
        return jsonify(error=error.message, code=error.code), error.status

    @bp.errorhandler(KintoneError)
    def kintone_error(error: KintoneError) -> tuple[Response, int]:
        return jsonify(error=error.message, code=error.code, errors=error.errors), error.status

    def seeding(body: dict[str, Any]) -> AbstractContextManager[None]:
        """With "webhooks": false (in the body, or ?webhooks=false), the change notifies nobody: data that existed
        before a test, or a webhook lost on its way."""
        silent = body.get("webhooks") is False or request.args.get("webhooks", "").lower() == "false"
        return sandbox.muted() if silent else nullcontext()

    @bp.get("")
    def index() -> Response:
        systems = ("hubspot.", "salesforce.", "kintone.")
        endpoints = sorted(e for e in current_app.view_functions if e.startswith(systems))
        return jsonify(base_url=sandbox.base_url, env=sandbox.env(), endpoints=endpoints)

    @bp.get("/calls")
    def calls() -> Response:
        return jsonify(sandbox.calls.snapshot())

    @bp.delete("/calls")
    def reset_calls() -> tuple[str, int]:
        sandbox.calls.reset()
        return "", 204

    @bp.get("/failures")
    def failures() -> Response:
        return jsonify(sandbox.failures.pending())

    @bp.post("/failures")
    def add_failure() -> tuple[Response, int]:
        body = _body()
        known = {f.name for f in fields(Failure)}
        try:
            failure = Failure(**{k: v for k, v in body.items() if k in known})
            sandbox.failures.add(failure)
        except (TypeError, ValueError) as error:
            return jsonify(error=f"{error}; expected {sorted(known)}"), 400
        return jsonify(sandbox.failures.pending()), 201

    @bp.delete("/failures")
    def clear_failures() -> tuple[str, int]:
        sandbox.failures.clear()
        return "", 204

    @bp.get("/config")
    def config() -> Response:
        cfg = sandbox.config
        return jsonify(
            hubspot=vars(cfg.hubspot),
            salesforce=vars(cfg.salesforce),
            delivery=vars(cfg.delivery),
            faults={"seed": cfg.faults.seed, "failures": [asdict(f) for f in cfg.faults.failures]},
            kintone={
                "concurrency_limit": cfg.kintone.concurrency_limit,
                "webhook_url": cfg.kintone.webhook_url,
                "apps": {k: vars(a) for k, a in cfg.kintone.apps.items()},
            },
        )

    @bp.patch("/config")
    def change_config() -> Response | tuple[Response, int]:
        sections = {
            "hubspot": sandbox.config.hubspot,
            "salesforce": sandbox.config.salesforce,
            "kintone": sandbox.config.kintone,
            "delivery": sandbox.config.delivery,
            "faults": sandbox.config.faults,
        }
        problems = []
        for name, changes in _body().items():
            if name not in sections or not isinstance(changes, dict):
                problems.append(f"{name}: not a section ({', '.join(sections)})")
            else:
                problems += [f"{name}.{p}" for p in update_settings(sections[name], changes)]
                if name == "faults" and "seed" in changes:
                    sandbox.failures.reseed(sandbox.config.faults.seed)  # a new seed restarts the draws
        if problems:
            return jsonify(error="some settings were not applied", problems=problems), 400
        return config()

    @bp.post("/reset")
    def reset() -> tuple[str, int]:
        sandbox.reset()
        return "", 204

    @bp.post("/bulk")
    def bulk() -> tuple[Response, int]:
        """Create many records at once with no webhook (an import): {"system", "object", "records"}; the new ids in
        input order. All or none: the first invalid record refuses the whole request, naming its index."""
        body = _body()
        system, object_, records = body.get("system"), str(body.get("object") or ""), _records(body)
        if system == "hubspot":
            if object_ not in ("contacts", ""):
                raise HubSpotError(404, "OBJECT_NOT_FOUND", f"no object {object_}: the sandbox keeps contacts")
            with sandbox.muted():
                ids = hubspot.store.bulk_create(records)
        elif system == "salesforce":
            store = salesforce.org.store(SALESFORCE_COLLECTIONS.get(object_, object_))
            if store is None:
                raise RequestError("NOT_FOUND", f"no {object_}: one of {', '.join(SALESFORCE_COLLECTIONS)}", status=404)
            with sandbox.muted():
                ids = store.bulk_create([store.schema.coerce(r) for r in records])
        elif system == "kintone":
            with sandbox.muted():  # kintone sends no webhook for a change of many records anyway
                added = app_store(object_).add([as_write(r) for r in records], "records[{i}]", "ja", MULTI, UI_USER)
            ids = [str(r.id) for r in added]
        else:
            return jsonify(error='expected {"system": "hubspot"|"salesforce"|"kintone", "object", "records"}'), 400
        return jsonify(ids=ids), 201

    @bp.post("/tokens/expire")
    def expire_tokens() -> Response:
        system = _body().get("system")
        expired = {}
        if system in (None, "hubspot"):
            expired["hubspot"] = hubspot.expire_tokens()
        if system in (None, "salesforce"):
            expired["salesforce"] = salesforce.expire_tokens()
        return jsonify(expired=expired)

    @bp.get("/webhooks")
    def deliveries() -> Response:
        pending = {name: d.pending() for name, d in sandbox.dispatchers.items()}
        return jsonify(pending=pending, deliveries=sandbox.deliveries.entries(request.args.get("system")))

    @bp.post("/webhooks/flush")
    def flush() -> Response:
        done = sandbox.flush(float(request.args.get("timeout", 10)))
        return jsonify(flushed=done, pending={name: d.pending() for name, d in sandbox.dispatchers.items()})

    # -- HubSpot: the CRM user interface ----------------------------------------------------------

    def contact_json(contact_id: str) -> dict[str, Any]:
        contact = hubspot.store.find(contact_id)
        if contact is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"no contact {contact_id}")
        return contact.to_api(hubspot.schema.properties)

    @bp.get("/hubspot/contacts")
    def contacts() -> Response:
        return jsonify([c.to_api(hubspot.schema.properties) for c in hubspot.store.all()])

    @bp.post("/hubspot/contacts")
    def create_contacts() -> tuple[Response, int]:
        body = _body()
        with seeding(body):
            ids = [hubspot.store.create(r, "CRM").id for r in _records(body)]
        return jsonify(ids=ids), 201

    @bp.get("/hubspot/contacts/<contact_id>")
    def contact(contact_id: str) -> Response:
        return jsonify(contact_json(contact_id))

    @bp.patch("/hubspot/contacts/<contact_id>")
    def edit_contact(contact_id: str) -> Response:
        hubspot.store.update(contact_id, _body().get("properties") or {}, "CRM")
        return jsonify(contact_json(contact_id))

    @bp.delete("/hubspot/contacts/<contact_id>")
    def delete_contact(contact_id: str) -> tuple[str, int]:
        """A user deletes the contact in the CRM: contact.deletion, unless ?webhooks=false (a lost webhook)."""
        with seeding(_body()):
            hubspot.store.delete(contact_id, "CRM")
        return "", 204

    # -- Salesforce: the record pages, and what a rep does on them ----------------------------------

    def sobject_store(collection: str) -> SObjectStore:
        if collection not in SALESFORCE_COLLECTIONS:
            raise RequestError("NOT_FOUND", f"no {collection}: one of {', '.join(SALESFORCE_COLLECTIONS)}", status=404)
        return salesforce.org.stores[SALESFORCE_COLLECTIONS[collection]]

    def record_json(store: SObjectStore, record: dict[str, Any]) -> dict[str, Any]:
        return {name: format_value(record.get(name), field["type"]) for name, field in store.schema.fields.items()}

    def found(store: SObjectStore, record_id: str) -> dict[str, Any]:
        record = store.get(record_id)
        if record is None:
            raise RequestError("NOT_FOUND", f"no {store.schema.object} {record_id}", status=404)
        return record

    def save(store: SObjectStore, record_id: str | None, values: dict[str, Any]) -> dict[str, Any]:
        result = store.save(record_id, store.schema.coerce(values), "UI")
        if not result["success"]:
            raise RequestError(result["errors"][0]["statusCode"], result["errors"][0]["message"])
        return result

    @bp.get("/salesforce/<collection>")
    def sobjects(collection: str) -> Response:
        store = sobject_store(collection)
        return jsonify([record_json(store, record) for record in store.all()])

    @bp.post("/salesforce/<collection>")
    def create_sobjects(collection: str) -> tuple[Response, int]:
        body, store = _body(), sobject_store(collection)
        with seeding(body):
            ids = [save(store, None, r)["id"] for r in _records(body)]
        return jsonify(ids=ids), 201

    @bp.get("/salesforce/<collection>/<record_id>")
    def sobject(collection: str, record_id: str) -> Response:
        store = sobject_store(collection)
        return jsonify(record_json(store, found(store, record_id)))

    @bp.patch("/salesforce/<collection>/<record_id>")
    def edit_sobject(collection: str, record_id: str) -> Response:
        body, store = _body(), sobject_store(collection)
        record = found(store, record_id)
        with seeding(body):
            save(store, record["Id"], body.get("fields") or {})
        return jsonify(record_json(store, found(store, record_id)))

    @bp.delete("/salesforce/recycle-bin")
    def empty_recycle_bin() -> Response:
        """An admin empties the recycle bin: getDeleted's earliestDateAvailable moves up to the newest purged."""
        return jsonify(purged={name: store.empty_bin() for name, store in salesforce.org.stores.items()})

    @bp.delete("/salesforce/<collection>/<record_id>")
    def delete_sobject(collection: str, record_id: str) -> tuple[str, int]:
        """A rep deletes the record: it goes to the recycle bin, and getDeleted lists it with its deletedDate.
        Salesforce sends no outbound message for a delete, so `?webhooks=false` changes nothing here."""
        store = sobject_store(collection)
        if store.delete(record_id) is None:
            raise RequestError("NOT_FOUND", f"no {store.schema.object} {record_id}", status=404)
        return "", 204

    @bp.post("/salesforce/leads/<lead_id>/convert")
    def convert_lead(lead_id: str) -> Response:
        body = _body()
        opportunity = body.get("opportunity", {})
        if opportunity is not False and not isinstance(opportunity, dict):
            raise RequestError("BAD_REQUEST", 'expected "opportunity": {field: value, …} or false')
        with seeding(body):
            lead = salesforce.org.convert(lead_id, None if opportunity is False else opportunity)
        if lead is None:
            raise RequestError("NOT_FOUND", f"no Lead {lead_id}", status=404)
        return jsonify(record_json(salesforce.store, lead))

    # -- kintone: the record screen ---------------------------------------------------------------

    def app_store(app_id: str) -> AppStore:
        if app_id not in kintone.apps:
            raise KintoneError(404, "GAIA_AP01", f"no app {app_id}")
        return kintone.apps[app_id]

    def kintone_record(app_id: str, record_id: str) -> dict[str, Any]:
        store = app_store(app_id)
        record = store.get(int(record_id)) if record_id.isdigit() else None
        if record is None:
            raise KintoneError(404, "GAIA_RE01", f"no record {record_id} in app {app_id}")
        return store.form.render(record)

    def as_write(values: dict[str, Any]) -> dict[str, Any]:
        return {code: {"value": value} for code, value in values.items()}

    @bp.get("/kintone/apps/<app_id>/records")
    def kintone_records(app_id: str) -> Response:
        store = app_store(app_id)
        return jsonify([store.form.render(r) for r in store.select(Query(order=[("$id", False)]))])

    @bp.post("/kintone/apps/<app_id>/records")
    def kintone_add(app_id: str) -> tuple[Response, int]:
        body = _body()
        store = app_store(app_id)
        with seeding(body):
            # One record at a time, as a user saves them: each sends its own ADD_RECORD webhook.
            ids = [str(store.add([as_write(r)], "record", "ja", SINGLE, UI_USER)[0].id) for r in _records(body)]
        return jsonify(ids=ids), 201

    @bp.get("/kintone/apps/<app_id>/records/<record_id>")
    def kintone_get(app_id: str, record_id: str) -> Response:
        return jsonify(kintone_record(app_id, record_id))

    def kintone_save(app_id: str, record_id: str, fields: dict[str, Any]) -> None:
        item = {"id": record_id, "record": as_write(fields)}
        app_store(app_id).update([item], False, "ja", SINGLE, single=True, actor=UI_USER)

    @bp.patch("/kintone/apps/<app_id>/records/<record_id>")
    def kintone_edit(app_id: str, record_id: str) -> Response:
        body = _body()
        kintone_record(app_id, record_id)
        with seeding(body):
            kintone_save(app_id, record_id, body.get("fields") or {})
        return jsonify(kintone_record(app_id, record_id))

    @bp.post("/kintone/apps/<app_id>/records/<record_id>/status")
    def kintone_status(app_id: str, record_id: str) -> Response:
        """A rep saves the record with `fields` if given (UPDATE_RECORD), then moves it to `status` (UPDATE_STATUS),
        as with the reason typed in and then the 失注 button pressed."""
        body = _body()
        kintone_record(app_id, record_id)
        if not isinstance(body.get("status"), str):
            raise KintoneError(400, "CB_VA01", 'expected {"status": "<ステータス>", "fields": {code: value, …}}')
        app_store(app_id).form.check_status(body["status"])  # before the edit: a refused action changes nothing
        with seeding(body):
            if body.get("fields"):
                kintone_save(app_id, record_id, body["fields"])
            app_store(app_id).change_status(int(record_id), body["status"], UI_USER)
        return jsonify(kintone_record(app_id, record_id))

    @bp.post("/kintone/apps/<app_id>/records/<record_id>/log")
    def kintone_log(app_id: str, record_id: str) -> Response:
        """A rep logs a follow-up in the record's 対応履歴 table: {"method": "電話", "result": "不在", "memo": "…"}
        (and "at" to date it other than now). One row is added, the rows there are kept: UPDATE_RECORD."""
        body = _body()
        kintone_record(app_id, record_id)
        if not isinstance(body.get("method"), str):
            raise KintoneError(400, "CB_VA01", 'expected {"method": "電話", "result": "不在", "memo": "…"}')
        row = {FOLLOW_UP_METHOD: body["method"], FOLLOW_UP_RESULT: body.get("result"),
               FOLLOW_UP_MEMO: body.get("memo"), FOLLOW_UP_TIME: body.get("at")}
        with seeding(body):
            app_store(app_id).log_follow_up(int(record_id), row, "ja", UI_USER)
        return jsonify(kintone_record(app_id, record_id))

    @bp.delete("/kintone/apps/<app_id>/records/<record_id>")
    def kintone_delete(app_id: str, record_id: str) -> tuple[str, int]:
        """A user deletes the record on its screen: DELETE_RECORD, unless ?webhooks=false (a lost webhook)."""
        kintone_record(app_id, record_id)
        with seeding(_body()):
            app_store(app_id).delete(int(record_id), UI_USER)
        return "", 204

    return bp
