"""Each transform on the values real records carry, Japanese text included."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from bridge.mapping.model import Context, TransformFailed
from bridge.mapping.schema import TransformField


def step(spec):
    return TransformField().deserialize(spec)


def run(spec, value, record=None, notes=None):
    ctx = Context(record or {})
    out = step(spec).run(value, ctx)
    if notes is not None:
        notes.extend(ctx.notes)
    return out


def test_trim_removes_full_width_spaces_too():
    assert run("trim", "\u3000 山田 太郎\u3000\n") == "山田 太郎"


def test_upper_and_lower():
    assert run("upper", "abc-ｘｙｚ") == "ABC-ＸＹＺ"
    assert run("lower", "Taro.Yamada@Example.CO.JP") == "taro.yamada@example.co.jp"


def test_nfkc_full_width_to_half_width_and_half_width_kana_to_full_width():
    assert run("nfkc", "ＡＢＣ１２３") == "ABC123"
    assert run("nfkc", "ﾔﾏﾀﾞ ｿﾌﾄｳｪｱ") == "ヤマダ ソフトウェア"  # voiced marks compose: ﾀﾞ → ダ
    assert run("nfkc", "㈱山田商事") == "(株)山田商事"
    assert run("nfkc", "０３－１２３４－５６７８") == "03-1234-5678"
    assert run("nfkc", "山田\u3000太郎") == "山田 太郎"


def test_text_transforms_pass_blank_through():
    assert run("trim", None) is None
    assert run("nfkc", None) is None


def test_map_exact_ignores_case_and_width():
    spec = {"map": {"values": {"hot": "Hot", "warm": "Warm"}, "default": "Cold"}}
    assert run(spec, "HOT") == "Hot"
    assert run(spec, "ｗａｒｍ ") == "Warm"


def test_map_default_for_unlisted_values_with_a_note():
    notes = []
    assert run({"map": {"values": {"hot": "Hot"}, "default": "Cold"}}, "lukewarm", notes=notes) == "Cold"
    assert "not in the map" in notes[0]


def test_map_without_default_keeps_unlisted_values_and_null_default_drops_them():
    assert run({"map": {"values": {"hot": "Hot"}}}, "lukewarm") == "lukewarm"
    assert run({"map": {"values": {"hot": "Hot"}, "default": None}}, "lukewarm") is None


def test_map_leaves_blank_for_the_field_default():
    assert run({"map": {"values": {"hot": "Hot"}, "default": "Cold"}}, None) is None


def test_map_ranges_to_numbers():
    spec = {"map": {"values": {"1-5": 3, "100-500": 300, "1000+": 1000}, "default": None}}
    assert run(spec, "100-500") == 300
    assert run(spec, "1000+") == 1000


def test_map_contains_takes_the_first_keyword_found_top_to_bottom():
    spec = {
        "map": {
            "match": "contains",
            "values": {
                "情報通信": "Technology",
                "通信": "Telecommunications",
                "saas": "Technology",
            },
            "default": "Other",
        }
    }
    assert run(spec, "情報通信業") == "Technology"
    assert run(spec, "通信キャリア") == "Telecommunications"
    assert run(spec, "B2B SaaS") == "Technology"
    assert run(spec, "農業") == "Other"


def test_map_keys_that_differ_only_in_case_are_refused():
    with pytest.raises(ValidationError) as error:
        step({"map": {"values": {"Hot": "a", "hot": "b"}}})
    assert "same key as 'Hot'" in str(error.value.messages)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1,234", 1234),
        ("１２３", 123),
        (" -0.5 ", -0.5),
        (42, 42),
        (3.5, 3.5),
        ("", None),
        (None, None),
    ],
)
def test_number(value, expected):
    assert run("number", value) == expected


def test_number_refuses_words():
    with pytest.raises(TransformFailed, match="'約50' is not a number"):
        run("number", "約50")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("FALSE", False),
        ("yes", True),
        ("はい", True),
        ("いいえ", False),
        ("1", True),
        (0, False),
        (True, True),
        ("", None),
    ],
)
def test_boolean(value, expected):
    assert run("boolean", value) is expected


def test_boolean_refuses_other_words():
    with pytest.raises(TransformFailed, match="not true or false"):
        run("boolean", "maybe")


def test_date_converts_a_utc_time_to_the_tokyo_date():
    assert run({"date": {"tz": "Asia/Tokyo"}}, "2026-04-01T15:30:00.000Z") == "2026-04-02"
    assert run({"date": {"tz": "UTC"}}, "2026-04-01T15:30:00.000Z") == "2026-04-01"


def test_date_reads_epoch_milliseconds_japanese_and_slashed_forms():
    assert run("date", "1775088000000") == "2026-04-02"  # HubSpot date property: midnight UTC
    assert run("date", "2026年4月2日") == "2026-04-02"
    assert run("date", "２０２６/４/２") == "2026-04-02"


def test_date_formats_and_reads_a_custom_input_format():
    assert run({"date": {"format": "%Y年%m月%d日"}}, "2026-04-02") == "2026年04月02日"
    assert run({"date": {"input_format": "%d.%m.%Y"}}, "02.04.2026") == "2026-04-02"


def test_date_refuses_what_it_cannot_read():
    with pytest.raises(TransformFailed, match="set input_format"):
        run("date", "next tuesday")


def test_datetime_converts_zones():
    assert run({"datetime": {"tz": "Asia/Tokyo"}}, "2026-04-01T15:30:00Z") == "2026-04-02T00:30:00+09:00"
    assert run({"datetime": {"tz": "UTC", "input_tz": "Asia/Tokyo"}}, "2026/04/02 09:00") == "2026-04-02T00:00:00Z"
    assert run({"datetime": {"tz": "Asia/Tokyo", "format": "%Y/%m/%d %H:%M"}}, 1775088000000) == "2026/04/02 09:00"


def test_split_name_japanese_family_first():
    assert run({"split_name": "family"}, "山田 太郎") == "山田"
    assert run({"split_name": "given"}, "山田\u3000太郎") == "太郎"


def test_split_name_western_given_first():
    assert run({"split_name": "family"}, "Taro Yamada") == "Yamada"
    assert run({"split_name": "given"}, "Taro Yamada") == "Taro"


def test_split_name_order_can_be_forced():
    assert run({"split_name": {"part": "family", "order": "family_first"}}, "Yamada Taro") == "Yamada"


def test_join_name_reads_other_fields():
    record = {"lastname": "山田", "firstname": "太郎"}
    assert run({"join_name": {"family": "lastname", "given": "firstname"}}, None, record) == "山田 太郎"
    record = {"lastname": "Yamada", "firstname": "Taro"}
    assert run({"join_name": {"family": "lastname", "given": "firstname"}}, None, record) == "Taro Yamada"
    record = {"lastname": "山田", "firstname": "太郎"}
    spec = {"join_name": {"family": "lastname", "given": "firstname", "sep": "\u3000"}}
    assert run(spec, None, record) == "山田\u3000太郎"


def test_constant_shorthand_and_long_form():
    assert run({"constant": "Web"}, "ignored") == "Web"
    assert run({"constant": {"value": 0}}, None) == 0


def test_template_concatenates_and_drops_blank_parts():
    spec = {"template": "{lastname} {firstname}"}
    assert run(spec, None, {"lastname": "山田", "firstname": "太郎"}) == "山田 太郎"
    assert run(spec, None, {"lastname": "山田", "firstname": None}) == "山田"
    assert run(spec, None, {}) is None


def test_template_value_and_literal_braces():
    assert run({"template": "{value} 様"}, "山田") == "山田 様"
    assert run({"template": "{{{bridge.score}}}"}, None, {"bridge.score": 115}) == "{115}"
