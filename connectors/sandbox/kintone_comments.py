"""kintone record comments in memory: post one (mentioning people), read a record's, ten at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify

from connectors.sandbox.kintone_schema import API_USER, KintoneError
from connectors.sandbox.kintone_store import AppStore

# https://cybozu.dev/ja/kintone/docs/rest-api/records/add-comment/
# https://cybozu.dev/ja/kintone/docs/rest-api/records/get-comments/
MAX_TEXT, MAX_MENTIONS, MAX_READ = 65_535, 10, 10
MENTION_TYPES = ("USER", "GROUP", "ORGANIZATION")


def _invalid(path: str, message: str) -> KintoneError:
    return KintoneError(400, "CB_VA01", "入力内容が正しくありません。", {path: [message]})


class Comments:
    """The comments of every app's records. Mentioned codes are taken on trust (the sandbox keeps no users); as
    kintone does, the mentions are put before the text."""

    def __init__(self, apps: dict[str, AppStore], clock: Callable[[], datetime],
                 params: Callable[[], dict[str, Any]]) -> None:
        self._apps, self._clock, self._params = apps, clock, params
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._by_record: dict[tuple[str, int], list[dict[str, Any]]] = {}
            self._next: dict[tuple[str, int], int] = {}

    def of(self, app_id: str, record_id: int) -> list[dict[str, Any]]:
        """A record's comments, oldest first (for tests and the control API)."""
        with self._lock:
            return [dict(c) for c in self._by_record.get((app_id, record_id), [])]

    def register(self, bp: Blueprint) -> None:
        bp.add_url_rule("/k/v1/record/comment.json", "comment_add", self.add, methods=["POST"])
        bp.add_url_rule("/k/v1/record/comments.json", "comments_read", self.read, methods=["GET"])

    def _record(self, params: dict[str, Any]) -> int:
        record = str(params.get("record", ""))
        if not record.isdigit():
            raise _invalid("record", "必須です。/ required")
        if self._apps[g.kintone_app].get(int(record)) is None:
            raise KintoneError(404, "GAIA_RE01", f"指定したレコード（id: {record}）が見つかりません。")
        return int(record)

    def add(self) -> Response:
        params = self._params()
        record = self._record(params)
        comment = params.get("comment")
        text = comment.get("text") if isinstance(comment, dict) else None
        if not isinstance(text, str) or not text:
            raise _invalid("comment.text", "必須です。/ required")
        if len(text) > MAX_TEXT:
            raise _invalid("comment.text", f"{MAX_TEXT}文字以内で入力してください。")
        mentions = comment.get("mentions") or []
        if not isinstance(mentions, list) or len(mentions) > MAX_MENTIONS:
            raise _invalid("comment.mentions", f"宛先は{MAX_MENTIONS}件までです。")
        for i, mention in enumerate(mentions):
            if not isinstance(mention, dict) or not mention.get("code") or mention.get("type") not in MENTION_TYPES:
                raise _invalid(f"comment.mentions[{i}]", "code と type (USER, GROUP, ORGANIZATION) が必要です。")
        key = (g.kintone_app, record)
        shown = " ".join(str(m["code"]) for m in mentions)
        with self._lock:
            number = self._next[key] = self._next.get(key, 0) + 1
            self._by_record.setdefault(key, []).append({
                "id": str(number), "text": f"{shown} \n{text}" if shown else text,
                "createdAt": self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "creator": dict(API_USER),
                "mentions": [{"code": str(m["code"]), "type": m["type"]} for m in mentions]})
        return jsonify(id=number)

    def read(self) -> Response:
        params = self._params()
        record = self._record(params)
        order = str(params.get("order", "desc"))
        offset, limit = str(params.get("offset", "0")), str(params.get("limit", str(MAX_READ)))
        if order not in ("asc", "desc"):
            raise _invalid("order", "asc か desc を指定してください。")
        if not offset.isdigit() or not limit.isdigit() or int(limit) > MAX_READ:
            raise _invalid("limit", f"offset は0以上、limit は0から{MAX_READ}までの数値です。")
        every = self.of(g.kintone_app, record)
        ordered = every if order == "asc" else every[::-1]
        start, end = int(offset), int(offset) + int(limit)
        page = ordered[start:end]
        ids = [int(c["id"]) for c in page]
        all_ids = [int(c["id"]) for c in every]
        return jsonify(comments=page, older=bool(ids) and min(all_ids) < min(ids),
                       newer=bool(ids) and max(all_ids) > max(ids))
