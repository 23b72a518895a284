"""Built-in sample records for previews: realistic, Japanese, messy the way real input is."""

from __future__ import annotations

from typing import Any

# A HubSpot contact as the API returns its properties (every value a string, date-times in ISO),
# plus the bridge.* values the handoff engine adds: full-width spaces and digits, half-width kana.
HUBSPOT_CONTACT: dict[str, Any] = {
    "hs_object_id": "1001",
    "email": " Taro.Yamada@Example.co.jp ",
    "firstname": "太郎",
    "lastname": "　山田",
    "company": "ﾔﾏﾀﾞｿﾌﾄｳｪｱ㈱",
    "jobtitle": "営業部長",
    "phone": "０３－１２３４－５６７８",
    "industry": "ソフトウェア・SaaS",
    "numemployees": "100-500",
    "createdate": "2026-04-01T15:30:00.000Z",
    "bridge.score": 115,
    "bridge.stage": "consideration",
    "bridge.temperature": "hot",
    "bridge.reason": "スコア 115 ≥ 100 かつ料金ページ閲覧 / score 115 ≥ 100, pricing page visited",
    "bridge.handoff_at": "2026-04-02T01:02:03+00:00",
}

SAMPLES: dict[tuple[str, str], dict[str, Any]] = {("hubspot", "contacts"): HUBSPOT_CONTACT}


def sample_record(system: str, object_name: str) -> dict[str, Any] | None:
    record = SAMPLES.get((system, object_name))
    return dict(record) if record is not None else None
