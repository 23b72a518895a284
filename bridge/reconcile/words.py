"""Reconciliation in words a marketer reads, in English and Japanese: every kind, action and reason, with details."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from bridge.reconcile.model import Drift

LANGUAGES = ("en", "ja")
#: The marketers read Japan time; callers may pass another zone.
DEFAULT_ZONE = ZoneInfo("Asia/Tokyo")
#: A value longer than this is cut in a sentence (the CSV, the JSON and the pages' value columns keep it whole).
SHOWN_VALUE = 80
SYSTEM_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce", "kintone": "kintone", "bridge": "Bridge"}
SALES_SYSTEMS = ("salesforce", "kintone")

# Each table: code -> (English, Japanese).
KIND_TITLES: dict[str, tuple[str, str]] = {
    "missing": ("Missing in a sales system", "営業システムにないリード"),
    "differs": ("Fields that differ", "値が食い違っている項目"),
    "deleted": ("Deleted records", "削除されたレコード"),
    "orphan": ("Records without a lead", "リードのないレコード"),
    "duplicate": ("Duplicates", "重複レコード"),
    "writeback": ("Sales values HubSpot has not received", "HubSpot に届いていない営業側の値"),
    "stale": ("Out-of-date score, stage or temperature in HubSpot", "HubSpot のスコア・ステージ・温度感が古い"),
}
KIND_HELP: dict[str, tuple[str, str]] = {
    "missing": ("Leads handed off to sales whose record cannot be found in Salesforce or kintone.",
                "営業に引き渡したのに、Salesforce や kintone にレコードが見つからないリードです。"),
    "differs": ("A mapped field holds different values in HubSpot and in the sales system.",
                "マッピングしている項目の値が、HubSpot と営業システムで違っています。"),
    "deleted": ("A lead's record was deleted in one system but still exists in the other.",
                "一方のシステムで削除されたのに、もう一方には残っているレコードです。"),
    "orphan": ("A sales record carries a HubSpot id that no lead of Bridge has.",
               "HubSpot ID を持っているのに、対応するリードが Bridge にない営業側のレコードです。"),
    "duplicate": ("Several sales records for one HubSpot contact or one email address.",
                  "1 件の HubSpot コンタクト (または 1 つのメールアドレス) に、営業側のレコードが複数あります。"),
    "writeback": ("Sales entered a value that should reach HubSpot and has not.",
                  "営業が入力した値のうち、HubSpot に反映されるはずなのにまだ届いていないものです。"),
    "stale": ("HubSpot shows a score, stage or temperature older than the one Bridge computed.",
              "HubSpot に表示されているスコア・ステージ・温度感が、Bridge の計算した最新の値と違います。"),
}
ACTION_LABELS: dict[str, tuple[str, str]] = {
    "upsert": ("Write to the sales system again", "営業システムへ再送"),
    "feedback": ("Write the sales value to HubSpot", "営業側の値を HubSpot へ反映"),
    "writeback": ("Write Bridge's score to HubSpot again", "Bridge のスコア等を HubSpot へ再送"),
    "person": ("A person decides", "人の判断が必要"),
}
REASON_LABELS: dict[str, tuple[str, str]] = {
    "not_in_target": ("not in the sales system", "営業システムにない"),
    "source_wins": ("HubSpot's value wins", "HubSpot の値を優先"),
    "target_wins": ("the sales value wins", "営業側の値を優先"),
    "deleted_in_target": ("deleted in the sales system", "営業システムで削除"),
    "deleted_in_hubspot": ("deleted in HubSpot", "HubSpot で削除"),
    "no_lead": ("no lead has its HubSpot id", "HubSpot ID に対応するリードがない"),
    "same_key": ("same HubSpot id", "同じ HubSpot ID"),
    "same_email": ("same email address", "同じメールアドレス"),
    "sales_value_missing": ("sales value not in HubSpot", "営業側の値が HubSpot にない"),
    "score_stale": ("score, stage or temperature out of date", "スコア・ステージ・温度感が古い"),
}
#: The action each reason calls for; an item whose action is another gets the action's general words instead.
REASON_ACTIONS = {
    "not_in_target": "upsert", "source_wins": "upsert", "target_wins": "feedback", "deleted_in_target": "person",
    "deleted_in_hubspot": "person", "no_lead": "person", "same_key": "person", "same_email": "person",
    "sales_value_missing": "feedback", "score_stale": "writeback",
}
STATUS_LABELS: dict[str, tuple[str, str]] = {
    "running": ("running", "実行中"),
    "planned": ("plan only (nothing changed)", "計画のみ (変更なし)"),
    "applied": ("repaired (--doit)", "修復済み (--doit)"),
    "refused": ("refused: too many changes", "中止: 変更が多すぎます"),
    "failed": ("failed", "失敗"),
    "interrupted": ("interrupted", "中断"),
}
MODE_LABELS: dict[str, tuple[str, str]] = {
    "full": ("full", "全件"),
    "incremental": ("changes since the last run", "前回以降の変更分"),
}
TRIGGER_LABELS: dict[str, tuple[str, str]] = {
    "cli": ("command line", "コマンド"),
    "schedule": ("schedule", "定期実行"),
}

# -- what was found, per reason ---------------------------------------------------------------------------------
# Placeholders are filled by _context(); an unknown one shows as "—" rather than break a report.
# A field item's `actual` is what `system`'s record holds, its `expected` what the other side says (through the route).
FINDINGS: dict[str, tuple[str, str]] = {
    "not_in_target": (
        "This lead was handed off, but no {where} holds its HubSpot id in {key_field}.",
        "このリードは引き渡し済みですが、{where} に、{key_field} にこのリードの HubSpot ID を持つ"
        "レコードがありません。",
    ),
    "source_wins": (
        "{system} holds {actual} in {field}, {other} says {expected}{changed}.",
        "{system} の {field} は{actual}、{other} では{expected}です{changed}。",
    ),
    "target_wins": (
        "{system} holds {actual} in {field}, {other} says {expected}{changed}.",
        "{system} の {field} は{actual}、{other} では{expected}です{changed}。",
    ),
    "deleted_in_target": (
        "{record} was deleted{deleted}, but the lead still points to it (route {route}).",
        "{record} は削除されています{deleted}。リードはまだこのレコードにつながっています (ルート {route})。",
    ),
    "deleted_in_hubspot": (
        "This lead's HubSpot contact is gone (deleted, or merged into another contact){changed}, but {sales} still "
        "holds its record.",
        "このリードの HubSpot コンタクトがありません (削除されたか、別のコンタクトに統合されました){changed}。"
        "{sales} にはレコードが残っています。",
    ),
    "no_lead": (
        "{record} holds HubSpot id {key} in {key_field}, but Bridge has no lead with that id (route {route}).",
        "{record} は {key_field} に HubSpot ID {key} を持っていますが、この ID のリードは Bridge にありません "
        "(ルート {route})。",
    ),
    "same_key": (
        "{n} {where} records hold HubSpot id {key} in {key_field}: {records} (route {route}).",
        "{where} で、{key_field} に HubSpot ID {key} を持つレコードが {n} 件あります: {records} (ルート {route})。",
    ),
    "same_email": (
        "{n} {where} records have the email address {email}: {records} (route {route}).",
        "{where} で、メールアドレス {email} のレコードが {n} 件あります: {records} (ルート {route})。",
    ),
    "sales_value_missing": (
        "{sales} holds {sales_value} in {field}, but HubSpot has {hubspot_value}: the value has not reached "
        "HubSpot{changed}.",
        "{sales} の {field} は{sales_value}ですが、HubSpot では{hubspot_value}のままで、値が届いていません"
        "{changed}。",
    ),
    "score_stale": (
        "HubSpot's {field} holds {actual}, but Bridge's own value is {expected}{changed}.",
        "HubSpot の {field} は{actual}ですが、Bridge が計算した値は{expected}です{changed}。",
    ),
}

# -- what --doit does about it, or why a person must decide ------------------------------------------------------
REMEDIES: dict[str, tuple[str, str]] = {
    "not_in_target": (
        "--doit sends the handoff again through the route {route}, which creates the record.",
        "--doit を付けて実行すると、ルート {route} で引き渡しを再送し、レコードを作成します。",
    ),
    "source_wins": (
        "--doit writes HubSpot's value to {sales} again, because {rule}.",
        "--doit を付けて実行すると、HubSpot の値を {sales} にもう一度書き込みます。{rule}。",
    ),
    "target_wins": (
        "--doit writes {sales}'s value to HubSpot, because {rule}.",
        "--doit を付けて実行すると、{sales} の値を HubSpot に書き込みます。{rule}。",
    ),
    "deleted_in_target": (
        "A person must decide, because Bridge does not re-create a record someone deleted: if it was deleted by "
        "mistake, restore it in {system}; if it was meant, nothing needs doing.",
        "人の判断が必要です。誰かが削除したレコードを Bridge は作り直さないためです。誤って削除した場合は "
        "{system} で復元してください。意図した削除であれば対応は不要です。",
    ),
    "deleted_in_hubspot": (
        "A person must decide, because Bridge never deletes a record sales works on: if the contact was removed on "
        "purpose, close or delete the record in {sales}; if it was merged, check the record belongs to the contact "
        "that remains.",
        "人の判断が必要です。営業が使っているレコードを Bridge は削除しないためです。コンタクトを意図して削除した"
        "場合は {sales} のレコードをクローズまたは削除し、統合した場合は残ったコンタクトのレコードとして正しいか"
        "確認してください。",
    ),
    "no_lead": (
        "A person must decide, because Bridge cannot tell whether the record was copied, made by hand or belongs "
        "to a contact deleted in HubSpot: correct or clear {key_field}, or delete the record.",
        "人の判断が必要です。コピーされたのか、手で作られたのか、HubSpot で削除されたコンタクトのものなのか、"
        "Bridge には判断できないためです。{key_field} を正しい値に直すか空にする、またはレコードを削除してください。",
    ),
    "same_key": (
        "A person must decide, because only someone who knows these records can tell which one to keep: merge "
        "them in {system}, and Bridge writes to the one left.",
        "人の判断が必要です。どのレコードを残すかは、内容を知っている人にしか決められないためです。{system} で"
        "統合すると、Bridge は残ったレコードに書き込みます。",
    ),
    "same_email": (
        "A person must decide, because only someone who knows these records can tell whether they are one "
        "person: merge them in {system}; if they are different people sharing one address, leave them.",
        "人の判断が必要です。同じ人のレコードかどうかは、内容を知っている人にしか判断できないためです。同じ人なら "
        "{system} で統合してください。1 つのアドレスを共有している別の人であれば、そのままで構いません。",
    ),
    "sales_value_missing": (
        "--doit writes {sales}'s value to HubSpot, because sales owns this field ({route_named} sends it back to "
        "HubSpot).",
        "--doit を付けて実行すると、{sales} の値を HubSpot に書き込みます。この項目は営業側が入力するもので、"
        "{route_named} が HubSpot に戻す設定だからです。",
    ),
    "score_stale": (
        "--doit writes Bridge's score, stage and temperature to HubSpot again, because Bridge computes them and "
        "HubSpot only shows them.",
        "--doit を付けて実行すると、Bridge のスコア・ステージ・温度感を HubSpot にもう一度書き込みます。"
        "これらは Bridge が計算する値で、HubSpot は表示しているだけだからです。",
    ),
}
#: An action's words when an item's reason calls for another (so a new pairing still reads sensibly).
ACTION_REMEDIES: dict[str, tuple[str, str]] = {
    "upsert": ("--doit sends the route's write to {system} again.",
               "--doit を付けて実行すると、ルートの書き込みを {system} にもう一度送ります。"),
    "feedback": ("--doit writes {sales}'s value to HubSpot.",
                 "--doit を付けて実行すると、{sales} の値を HubSpot に書き込みます。"),
    "writeback": ("--doit writes Bridge's score, stage and temperature to HubSpot again.",
                  "--doit を付けて実行すると、Bridge のスコア・ステージ・温度感を HubSpot にもう一度書き込みます。"),
    "person": ("A person must decide; --doit leaves it as it is.",
               "人の判断が必要です。--doit を付けても変更しません。"),
}

# -- why one side wins a field: the route's direction or its `conflict:` rule -----------------------------------
RULES_FOR_HUBSPOT: dict[str, tuple[str, str]] = {
    "to_target": ("the route {route} sends HubSpot's value (direction to_target)",
                  "ルート {route} が HubSpot の値を送る設定だからです (direction to_target)"),
    "source_wins": ("the conflict rule of the route {route} lets HubSpot's value win (conflict source_wins)",
                    "ルート {route} の競合ルールで HubSpot の値が優先されるからです (conflict source_wins)"),
    "newest_wins": ("HubSpot's value is the newer one, and the route {route} keeps the newer (conflict newest_wins)",
                    "HubSpot の値のほうが新しく、ルート {route} は新しい値を残す設定だからです (conflict newest_wins)"),
    "target_unless_blank": ("{sales} left the field blank, and the route {route} then sends HubSpot's value "
                            "(conflict target_unless_blank)",
                            "{sales} 側が空欄で、その場合ルート {route} は HubSpot の値を送る設定だからです "
                            "(conflict target_unless_blank)"),
}
RULES_FOR_SALES: dict[str, tuple[str, str]] = {
    "to_source": ("the route {route} takes this field from {sales} (direction to_source)",
                  "ルート {route} がこの項目を {sales} から HubSpot に戻す設定だからです (direction to_source)"),
    "target_wins": ("the conflict rule of the route {route} lets {sales}'s value win (conflict target_wins)",
                    "ルート {route} の競合ルールで {sales} の値が優先されるからです (conflict target_wins)"),
    "target_unless_blank": ("{sales} holds a value, which the route {route} keeps (conflict target_unless_blank)",
                            "{sales} に値が入っていて、ルート {route} はその値を残す設定だからです "
                            "(conflict target_unless_blank)"),
    "newest_wins": ("{sales}'s value is the newer one, and the route {route} keeps the newer (conflict newest_wins)",
                    "{sales} の値のほうが新しく、ルート {route} は新しい値を残す設定だからです (conflict newest_wins)"),
}
OTHER_RULE = ("the route {route} says so ({rule_code})", "ルート {route} の設定がそうなっているからです ({rule_code})")

# -- small words ------------------------------------------------------------------------------------------------
BLANK = ("(blank)", "空欄")
SALES_SIDE = ("the sales system", "営業システム")
ROUTE_NAMED = ("the route {route}", "ルート {route}")
FEEDBACK_FILE = "feedback.yaml"
REPAIRED = ("Repaired {at}.", "{at} に修復しました。")
# The spaces around 営業システム where a Japanese character is its neighbour.
_JA_GAP = re.compile(rf"(?<=[^\x00-\x7f]) (?={SALES_SIDE[1]})|(?<={SALES_SIDE[1]}) (?=[^\x00-\x7f])")


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "ja" else pair[0]


def _label(table: dict[str, tuple[str, str]], code: str | None, lang: str) -> str:
    """A code's words; an unknown code shows as itself, so a gap is visible rather than hidden."""
    pair = table.get(code or "")
    return _pick(pair, lang) if pair else str(code or "—")


def kind_title(kind: str, lang: str = "en") -> str:
    return _label(KIND_TITLES, kind, lang)


def kind_help(kind: str, lang: str = "en") -> str:
    return _label(KIND_HELP, kind, lang) if kind in KIND_HELP else ""


def action_label(action: str, lang: str = "en") -> str:
    return _label(ACTION_LABELS, action, lang)


def reason_label(reason: str, lang: str = "en") -> str:
    return _label(REASON_LABELS, reason, lang)


def status_label(status: str, lang: str = "en") -> str:
    return _label(STATUS_LABELS, status, lang)


def mode_label(mode: str, lang: str = "en") -> str:
    return _label(MODE_LABELS, mode, lang)


def trigger_label(trigger: str, lang: str = "en") -> str:
    return _label(TRIGGER_LABELS, trigger, lang)


def system_name(system: str | None) -> str:
    return SYSTEM_NAMES.get(system or "", system or "—")


def shown_time(value: str | datetime | None, zone: tzinfo = DEFAULT_ZONE) -> str:
    """`2026-12-01 10:02 JST` from a stored UTC time; text that is not a time is shown as it is."""
    if not value:
        return ""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def shown_value(value: Any, lang: str = "en", limit: int = SHOWN_VALUE) -> str:
    """A value quoted the way each language quotes: 'Acme' and 「Acme」; blank when empty; cut when long."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return _pick(BLANK, lang)
    text = " ".join(str(value).split())  # a value's line breaks would break the sentence (and the CSV row) apart
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"「{text}」" if lang == "ja" else f"'{text}'"


def _item(item: Drift | Mapping[str, Any]) -> Mapping[str, Any]:
    return item.to_dict() if isinstance(item, Drift) else item


class _Blanks(dict):
    """Formatting values where a missing one reads "—" (a detail the plan did not give must not break a report)."""

    def __missing__(self, key: str) -> str:
        return "—"


def _sales_system(item: Mapping[str, Any]) -> str | None:
    """The sales system the item is about: its own system, else the side that changed, else the one its details
    name; None when nothing says."""
    details = item.get("details") or {}
    for candidate in (item.get("system"), item.get("changed_side"), details.get("target_system"),
                      details.get("system")):
        if candidate in SALES_SYSTEMS:
            return candidate
    return None


def _changed(item: Mapping[str, Any], lang: str, zone: tzinfo) -> str:
    """`(changed in Salesforce by 005xx at 2026-12-01 10:02 JST)`, as much of it as the system told."""
    side, by, at = item.get("changed_side"), item.get("changed_by"), shown_time(item.get("changed_at"), zone)
    if not (side or by or at):
        return ""
    if lang == "ja":
        parts = [f"{at} に" if at else "", f"{system_name(side)} で" if side else "", f"{by} が" if by else ""]
        return f" ({' '.join(p for p in parts if p)}変更)"
    parts = ["changed" + (f" in {system_name(side)}" if side else ""), f"by {by}" if by else "",
             f"at {at}" if at else ""]
    return f" ({' '.join(p for p in parts if p)})"


def _is_app(system: str | None, obj: Any) -> bool:
    """kintone's objects are apps numbered by id: `app 7` reads better than `7`."""
    return system == "kintone" and str(obj or "").isdecimal()


def _where(system: str | None, obj: Any, lang: str) -> str:
    """`Salesforce Lead`, `kintone app 7` / `Salesforce の Lead`, `kintone のアプリ 7`."""
    name = system_name(system)
    if _is_app(system, obj):
        return f"{name} のアプリ {obj}" if lang == "ja" else f"{name} app {obj}"
    what = str(obj) if obj else _pick(("record", "レコード"), lang)
    return f"{name} の {what}" if lang == "ja" else f"{name} {what}"


def _record_name(item: Mapping[str, Any], lang: str) -> str:
    """`the Salesforce Lead 00Q5g…`, `the kintone app 7 record 12` / `Salesforce の Lead 00Q5g…`, `kintone の
    アプリ 7 のレコード 12`."""
    system, obj, record = item.get("system"), item.get("object"), item.get("record_id") or ""
    where = _where(system, obj, lang)
    if lang == "ja":
        return f"{where} のレコード {record}".rstrip() if _is_app(system, obj) else f"{where} {record}".rstrip()
    return f"the {where} record {record}".rstrip() if _is_app(system, obj) else f"the {where} {record}".rstrip()


def _rule(item: Mapping[str, Any], lang: str, sales: str) -> str:
    details = item.get("details") or {}
    code = details.get("rule")
    table = RULES_FOR_SALES if item.get("reason") == "target_wins" else RULES_FOR_HUBSPOT
    pair = table.get(code) if code else None
    text = _pick(pair, lang) if pair else _pick(OTHER_RULE, lang)
    return text.format(sales=sales, rule_code=code or "—", route=details.get("route") or "—")


def _context(item: Mapping[str, Any], lang: str, zone: tzinfo) -> dict[str, Any]:
    details = item.get("details") or {}
    system = item.get("system")
    sales_code = _sales_system(item)
    sales = system_name(sales_code) if sales_code else _pick(SALES_SIDE, lang)
    actual, expected = shown_value(item.get("actual"), lang), shown_value(item.get("expected"), lang)
    on_hubspot = system == "hubspot"
    records = details.get("records") or []
    if isinstance(records, str):
        records = [records]
    context = _Blanks({
        "system": system_name(system), "where": _where(system, item.get("object"), lang),
        "record": _record_name(item, lang), "field": item.get("field") or "—", "actual": actual,
        "expected": expected, "sales": sales, "other": sales if on_hubspot else "HubSpot",
        "hubspot_value": actual if on_hubspot else expected, "sales_value": expected if on_hubspot else actual,
        "changed": _changed(item, lang, zone), "n": len(records),
        "records": ", ".join(str(r) for r in records) or "—",
    })
    for key in ("route", "key_field", "key", "email"):
        if details.get(key) not in (None, ""):
            context[key] = details[key]
    # The lead status and sales fields HubSpot hears come from feedback.yaml, not from a route.
    route = details.get("route") or "—"
    context["route_named"] = FEEDBACK_FILE if route == "feedback" else _pick(ROUTE_NAMED, lang).format(route=route)
    deleted_at = shown_time(details.get("deleted_at"), zone)
    context["deleted"] = (f" ({deleted_at})" if lang == "ja" else f" (at {deleted_at})") if deleted_at else ""
    context["rule"] = _rule(item, lang, sales)
    return context


def finding(item: Drift | Mapping[str, Any], lang: str = "en", zone: tzinfo = DEFAULT_ZONE) -> str:
    """What is wrong, with both values and who changed what when (as far as the system told)."""
    fields = _item(item)
    template = FINDINGS.get(fields.get("reason") or "")
    if template is None:  # a reason this module has no words for yet: the codes at least
        return f"{kind_title(fields.get('kind') or '', lang)}: {fields.get('reason')}"
    return _tidy(_pick(template, lang).format_map(_context(fields, lang, zone)), lang)


def remedy(item: Drift | Mapping[str, Any], lang: str = "en", zone: tzinfo = DEFAULT_ZONE) -> str:
    """What --doit would do about it, or that a person must decide and why."""
    fields = _item(item)
    reason, action = fields.get("reason") or "", fields.get("action") or ""
    if reason in REMEDIES and REASON_ACTIONS.get(reason) == action:
        template = REMEDIES[reason]
    elif action in ACTION_REMEDIES:
        template = ACTION_REMEDIES[action]
    else:
        return action_label(action, lang)
    text = _tidy(_pick(template, lang).format_map(_context(fields, lang, zone)), lang)
    if fields.get("repaired_at"):
        text += (" " if lang == "en" else "") + _pick(REPAIRED, lang).format(at=shown_time(fields["repaired_at"], zone))
    return text


def _tidy(text: str, lang: str) -> str:
    """English starts with a capital (`The kintone app 7 record 12 was deleted`); Japanese puts no space between the
    generic 営業システム and its particle (system names, being Latin, keep theirs: `Salesforce の`)."""
    if lang == "ja":
        return _JA_GAP.sub("", text)
    if text.startswith("kintone"):  # the product's name is written in lower case, even first in a sentence
        return text
    return text[:1].upper() + text[1:]


def sentence(item: Drift | Mapping[str, Any], lang: str = "en", zone: tzinfo = DEFAULT_ZONE) -> str:
    """The whole item in words: what is wrong, then what --doit does or why a person decides."""
    joiner = "" if lang == "ja" else " "
    return f"{finding(item, lang, zone)}{joiner}{remedy(item, lang, zone)}"


# -- the report's own sentences (bridge/reconcile/report.py) ----------------------------------------------------
PHRASES: dict[str, tuple[str, str]] = {
    "title": ("Reconciliation #{id}", "突き合わせ #{id}"),
    "compared": ("Records compared: {systems}", "比較したレコード: {systems}"),
    "nothing_compared": ("Records compared: none", "比較したレコード: なし"),
    "records": ("{n} records", "{n} 件"),
    "found": ("Drift found: {n}", "見つかった差分: {n} 件"),
    "found_trend": ("Drift found: {n} ({previous} in the previous comparable run #{run}: {change})",
                    "見つかった差分: {n} 件 (前回の同じ種類の実行 #{run} では {previous} 件: {change})"),
    "no_drift": ("No drift: the systems agree.", "差分はありません。各システムの内容は一致しています。"),
    "kind_count": ("{kind}: {n}", "{kind}: {n} 件"),
    "new": ("no earlier run to compare", "比較できる前回の実行なし"),
    "repaired": ("Repaired: {n}. A person must decide: {person}.", "修復済み: {n} 件。人の判断が必要: {person} 件。"),
    "to_repair": ("--doit would repair {n}. A person must decide: {person}.",
                  "--doit で修復できるもの: {n} 件。人の判断が必要: {person} 件。"),
    "refused": ("Refused: the plan would change {share} of the records compared, more than allowed; nothing was "
                "changed. Check the plan, then run with --doit --force if it is right.",
                "中止しました: 比較したレコードの {share} を変更する計画で、上限を超えています。何も変更していません。"
                "計画を確認し、問題なければ --doit --force で実行してください。"),
    "failed": ("The run failed: {error}", "実行に失敗しました: {error}"),
    "interrupted": ("The run was interrupted before it finished; the next run reads everything again.",
                    "実行は途中で中断されました。次回の実行であらためて読み直します。"),
    "running": ("Still running.", "実行中です。"),
    "more": ("… and {n} more: see the admin pages or the CSV.", "… ほか {n} 件 (管理画面または CSV を参照)。"),
    "lead": ("lead {id}", "リード {id}"),
    "no_name": ("(no name)", "(名前なし)"),
    "person_list": ("Leads a person must look at:", "人の判断が必要なリード:"),
    "open_report": ("Open the report", "レポートを開く"),
}


def phrase(key: str, lang: str = "en", **values: Any) -> str:
    return _pick(PHRASES[key], lang).format(**values)
