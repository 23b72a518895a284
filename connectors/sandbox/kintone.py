"""The kintone simulator's HTTP surface: API-token auth, concurrency limit, records, cursors."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from connectors.sandbox.config import DeliveryConfig, KintoneConfig
from connectors.sandbox.controls import Failure, FailurePlan
from connectors.sandbox.delivery import DeliveryLog
from connectors.sandbox.kintone_comments import Comments
from connectors.sandbox.kintone_query import MAX_LIMIT, parse
from connectors.sandbox.kintone_schema import AppForm, KintoneError, text
from connectors.sandbox.kintone_store import MAX_WRITE, MULTI, SINGLE, AppStore
from connectors.sandbox.kintone_webhooks import KintoneWebhooks

PREFIX = "/kintone"
# https://cybozu.dev/ja/kintone/docs/rest-api/records/add-cursor/
MAX_CURSORS, CURSOR_IDLE_SECONDS, DEFAULT_CURSOR_SIZE = 10, 600, 100


@dataclass
class Cursor:
    app_id: str
    ids: list[int]
    fields: list[str] | None
    size: int
    position: int
    last_used: float


def _lang() -> str:
    return "en" if request.headers.get("Accept-Language", "").lower().startswith("en") else "ja"


def _error(error: KintoneError) -> tuple[Response, int]:
    return jsonify(error.body()), error.status


def _invalid(path: str, message: str) -> KintoneError:
    return KintoneError(400, "CB_VA01", text("invalid", _lang()), {path: [message]})


class KintoneSim:
    def __init__(
        self,
        config: KintoneConfig,
        clock: Callable[[], datetime],
        failures: FailurePlan,
        delivery: DeliveryConfig,
        log: DeliveryLog,
        base_url: Callable[[], str],
    ) -> None:
        self.config = config
        self._clock = clock
        self._failures = failures
        self.forms = {app_id: AppForm(app.fields) for app_id, app in config.apps.items()}
        self.webhooks = KintoneWebhooks(config, delivery, log, self.forms, base_url)
        self.apps = {
            app_id: AppStore(app_id, form, clock, self.webhooks.on_change) for app_id, form in self.forms.items()
        }
        self._lock = threading.Lock()
        self._cursors: dict[str, Cursor] = {}
        self._in_flight = 0
        self.comments = Comments(self.apps, clock, self._params)

    def reset(self) -> None:
        for app in self.apps.values():
            app.reset()
        self.webhooks.dispatcher.clear()
        self.comments.reset()
        with self._lock:
            self._cursors.clear()

    # -- guards -----------------------------------------------------------------------------------

    def _enter(self) -> tuple[Response, int] | None:
        with self._lock:
            self._in_flight += 1
            g.kintone_counted = True
            busy = self._in_flight > self.config.concurrency_limit
        if busy:
            # kintone documents the 429 but not its error code; this one is the sandbox's own.
            return _error(
                KintoneError(
                    429,
                    "SANDBOX_TOO_MANY_REQUESTS",
                    "同時に実行できるリクエスト数の上限を超えました。",
                )
            )
        failure = self._failures.take(request.endpoint or "", request.environ)
        if failure:
            return self._injected(failure)
        return self._authenticate()

    def _leave(self, _error: BaseException | None) -> None:
        if g.pop("kintone_counted", False):
            with self._lock:
                self._in_flight -= 1

    @staticmethod
    def _injected(failure: Failure) -> tuple[Response, int]:
        time.sleep(failure.delay)
        response, status = _error(
            KintoneError(
                failure.status,
                failure.code or "SANDBOX_INJECTED_FAILURE",
                failure.message or "Injected failure (sandbox)",
            )
        )
        if failure.retry_after is not None:
            response.headers["Retry-After"] = str(failure.retry_after)
        return response, status

    def _authenticate(self) -> tuple[Response, int] | None:
        header = request.headers.get("X-Cybozu-API-Token", "")
        tokens = [t.strip() for t in header.split(",") if t.strip()]
        if not tokens:
            return _error(KintoneError(401, "CB_AU01", "ログインしてください。"))
        known = {app.api_token: app_id for app_id, app in self.config.apps.items()}
        if any(t not in known for t in tokens):
            return _error(KintoneError(401, "GAIA_IA02", "指定したAPIトークンが正しくありません。"))
        try:
            app_id = self._app_of_request()
        except KintoneError as error:
            return _error(error)
        if all(known[t] != app_id for t in tokens):
            return _error(KintoneError(403, "GAIA_NO01", "このAPIトークンでは、指定したAPIを実行できません。"))
        g.kintone_app = app_id
        return None

    def _app_of_request(self) -> str:
        params = self._params()
        if request.endpoint in ("kintone.cursor_read", "kintone.cursor_delete"):
            cursor = self._cursor(str(params.get("id", "")))
            return cursor.app_id
        app_id = str(params.get("app", ""))
        if not app_id:
            raise _invalid("app", text("required", _lang()))
        if app_id not in self.apps:
            raise KintoneError(
                404,
                "GAIA_AP01",
                f"指定したアプリ（id: {app_id}）が見つかりません。削除されている可能性があります。",
            )
        return app_id

    @staticmethod
    def _params() -> dict[str, Any]:
        """Query-string and JSON-body parameters; fields[0]=a&fields[1]=b become fields=[a, b]."""
        params: dict[str, Any] = {}
        for key, value in request.args.items(multi=True):
            if key.startswith("fields[") or key == "fields":
                params.setdefault("fields", []).append(value)
            else:
                params[key] = value
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            params.update(body)
        return params

    # -- routes -----------------------------------------------------------------------------------

    def blueprint(self) -> Blueprint:
        bp = Blueprint("kintone", __name__, url_prefix=PREFIX)
        bp.before_request(self._enter)
        bp.teardown_request(self._leave)
        bp.errorhandler(KintoneError)(_error)
        bp.add_url_rule("/k/v1/app/form/fields.json", "form_fields", self.form_fields)
        bp.add_url_rule("/k/v1/records.json", "records_read", self.records_read, methods=["GET"])
        bp.add_url_rule("/k/v1/records.json", "records_add", self.records_add, methods=["POST"])
        bp.add_url_rule("/k/v1/records.json", "records_update", self.records_update, methods=["PUT"])
        bp.add_url_rule("/k/v1/record.json", "record_read", self.record_read, methods=["GET"])
        bp.add_url_rule("/k/v1/record.json", "record_add", self.record_add, methods=["POST"])
        bp.add_url_rule("/k/v1/record.json", "record_update", self.record_update, methods=["PUT"])
        bp.add_url_rule("/k/v1/app/status.json", "process", self.process)
        bp.add_url_rule("/k/v1/records/status.json", "statuses_update", self.statuses_update, methods=["PUT"])
        bp.add_url_rule("/k/v1/records/cursor.json", "cursor_create", self.cursor_create, methods=["POST"])
        bp.add_url_rule("/k/v1/records/cursor.json", "cursor_read", self.cursor_read, methods=["GET"])
        bp.add_url_rule("/k/v1/records/cursor.json", "cursor_delete", self.cursor_delete, methods=["DELETE"])
        self.comments.register(bp)
        return bp

    def form_fields(self) -> Response:
        return jsonify(self.forms[g.kintone_app].properties())

    def records_read(self) -> Response:
        params = self._params()
        app = self.apps[g.kintone_app]
        query = parse(str(params.get("query", "")), app.form)
        end = query.offset + query.limit
        first = app.first(query, end)  # seek paging ($id > n order by $id asc) reads no further than the page
        page = first[query.offset :] if first is not None else app.select(query)[query.offset : end]
        fields = params.get("fields") or None
        total = str(params.get("totalCount", "")).lower() in ("true", "1")
        return jsonify(
            records=[app.form.render(r, fields) for r in page],
            totalCount=str(app.count(query)) if total else None,
        )

    def records_add(self) -> Response:
        # Long GET queries come as POST with X-HTTP-Method-Override: GET (as kintone/js-sdk sends).
        if request.headers.get("X-HTTP-Method-Override", "").upper() == "GET":
            return self.records_read()
        records = self._params().get("records")
        if not isinstance(records, list) or not records or len(records) > MAX_WRITE:
            raise _invalid("records", f"一度に追加できるレコードは1件以上{MAX_WRITE}件以下です。")
        added = self.apps[g.kintone_app].add(records, "records[{i}]", _lang(), MULTI)
        return jsonify(ids=[str(r.id) for r in added], revisions=[str(r.revision) for r in added])

    def records_update(self) -> Response:
        params = self._params()
        items = params.get("records")
        if not isinstance(items, list) or not items or len(items) > MAX_WRITE:
            raise _invalid("records", f"一度に更新できるレコードは1件以上{MAX_WRITE}件以下です。")
        upsert = params.get("upsert") is True
        done = self.apps[g.kintone_app].update(items, upsert, _lang(), MULTI)
        if upsert:
            return jsonify(records=[{"id": str(r.id), "operation": op, "revision": str(r.revision)} for r, op in done])
        return jsonify(records=[{"id": str(r.id), "revision": str(r.revision)} for r, _ in done])

    def record_read(self) -> Response:
        record_id = str(self._params().get("id", ""))
        app = self.apps[g.kintone_app]
        record = app.get(int(record_id)) if record_id.isdigit() else None
        if record is None:
            raise KintoneError(404, "GAIA_RE01", f"指定したレコード（id: {record_id}）が見つかりません。")
        return jsonify(record=app.form.render(record))

    def record_add(self) -> Response:
        added = self.apps[g.kintone_app].add([self._params().get("record")], "record", _lang(), SINGLE)
        return jsonify(id=str(added[0].id), revision=str(added[0].revision))

    def record_update(self) -> Response:
        done = self.apps[g.kintone_app].update([self._params()], False, _lang(), SINGLE, single=True)
        return jsonify(revision=str(done[0][0].revision))

    def process(self) -> Response:
        return jsonify(self.forms[g.kintone_app].process())

    def statuses_update(self) -> Response:
        items = self._params().get("records")
        if not isinstance(items, list) or not items or len(items) > MAX_WRITE:
            raise _invalid("records", f"一度に更新できるレコードは1件以上{MAX_WRITE}件以下です。")
        moves = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not str(item.get("id", "")).isdigit() or not item.get("action"):
                raise _invalid(f"records[{i}]", "id と action は必須です。/ id and action are required")
            moves.append((int(item["id"]), str(item["action"]), item.get("revision")))
        moved = self.apps[g.kintone_app].take_actions(moves)
        return jsonify(records=[{"id": str(r.id), "revision": str(r.revision)} for r in moved])

    # -- cursors ----------------------------------------------------------------------------------

    def _cursor(self, cursor_id: str) -> Cursor:
        now = self._clock().timestamp()
        with self._lock:
            for key in [k for k, c in self._cursors.items() if now - c.last_used > CURSOR_IDLE_SECONDS]:
                del self._cursors[key]
            cursor = self._cursors.get(cursor_id)
            if cursor is None:
                raise _invalid("id", "指定したカーソルが見つかりません。有効期限が切れている可能性があります。")
            cursor.last_used = now
            return cursor

    def cursor_create(self) -> Response:
        params = self._params()
        app = self.apps[g.kintone_app]
        size = params.get("size", DEFAULT_CURSOR_SIZE)
        if not str(size).isdigit() or not 1 <= int(size) <= MAX_LIMIT:
            raise _invalid("size", f"1以上{MAX_LIMIT}以下の値を指定してください。")
        query = parse(str(params.get("query", "")), app.form)
        if query.has_paging:
            raise _invalid("query", "カーソルのクエリにはlimitとoffsetを指定できません。")
        rows = app.select(query)
        now = self._clock().timestamp()
        with self._lock:
            self._cursors = {k: c for k, c in self._cursors.items() if now - c.last_used <= CURSOR_IDLE_SECONDS}
            if len(self._cursors) >= MAX_CURSORS:
                raise KintoneError(
                    400,
                    "GAIA_TM12",
                    "作成できるカーソルの上限に達しているため、カーソルを作成できません。"
                    "不要なカーソルを削除するか、しばらく経ってから再実行してください。",
                )
            cursor_id = str(uuid.uuid4())
            self._cursors[cursor_id] = Cursor(
                g.kintone_app, [r.id for r in rows], params.get("fields") or None, int(size), 0, now
            )
        return jsonify(id=cursor_id, totalCount=str(len(rows)))

    def cursor_read(self) -> Response:
        cursor_id = str(self._params().get("id", ""))
        cursor = self._cursor(cursor_id)
        with self._lock:
            chunk = cursor.ids[cursor.position : cursor.position + cursor.size]
            cursor.position += len(chunk)
            more = cursor.position < len(cursor.ids)
            if not more:  # the cursor is deleted once its last page has been read
                self._cursors.pop(cursor_id, None)
        app = self.apps[cursor.app_id]
        records = [app.form.render(r, cursor.fields) for i in chunk if (r := app.get(i)) is not None]
        return jsonify(records=records, next=more)

    def cursor_delete(self) -> Response:
        cursor_id = str(self._params().get("id", ""))
        self._cursor(cursor_id)
        with self._lock:
            self._cursors.pop(cursor_id, None)
        return jsonify({})
