"""Personal names: family-name-first East Asian order, Western order, and the cases in between."""

from __future__ import annotations

import pytest

from bridge.mapping.names import is_east_asian, join_name, split_name


@pytest.mark.parametrize(
    ("full", "family", "given"),
    [
        ("山田 太郎", "山田", "太郎"),
        ("山田\u3000太郎", "山田", "太郎"),  # full-width space
        ("  山田　　太郎  ", "山田", "太郎"),
        ("やまだ たろう", "やまだ", "たろう"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ﾔﾏﾀﾞ", "ﾀﾛｳ"),  # half-width katakana
        ("佐々木 〆子", "佐々木", "〆子"),
        ("김 민준", "김", "민준"),  # Korean: family name first too
        ("Taro Yamada", "Yamada", "Taro"),
        ("Mary Ann Smith", "Smith", "Mary Ann"),
        (
            "YAMADA Taro",
            "YAMADA",
            "Taro",
        ),  # Japanese convention in Latin letters: capitalised family name
        ("Yamada, Taro", "Yamada", "Taro"),
        (
            "ジョン・スミス",
            "スミス",
            "ジョン",
        ),  # katakana foreign name: given name first, middle dot
    ],
)
def test_split_name(full, family, given):
    assert split_name(full)[:2] == (family, given)


def test_split_name_without_a_space_keeps_everything_as_family_name_and_says_so():
    family, given, note = split_name("山田太郎")
    assert (family, given) == ("山田太郎", "")
    assert "no space" in note


def test_split_name_forced_orders():
    assert split_name("Yamada Taro", "family_first")[:2] == ("Yamada", "Taro")
    assert split_name("太郎 山田", "given_first")[:2] == ("山田", "太郎")


def test_split_name_blank():
    assert split_name("\u3000")[:2] == ("", "")


@pytest.mark.parametrize(
    ("family", "given", "order", "full"),
    [
        ("山田", "太郎", "auto", "山田 太郎"),
        ("Yamada", "Taro", "auto", "Taro Yamada"),
        ("Yamada", "Taro", "family_first", "Yamada Taro"),
        ("山田", "Taro", "auto", "山田 Taro"),
        ("山田", "", "auto", "山田"),
        ("", "太郎", "auto", "太郎"),
        (" 山田 ", "\u3000太郎", "auto", "山田 太郎"),
    ],
)
def test_join_name(family, given, order, full):
    assert join_name(family, given, order) == full


def test_split_then_join_round_trips():
    for full in ("山田 太郎", "Taro Yamada"):
        family, given, _ = split_name(full)
        assert join_name(family, given) == full


def test_east_asian_detection():
    assert is_east_asian("山田") and is_east_asian("たろう") and is_east_asian("ﾀﾛｳ")
    assert not is_east_asian("Taro Yamada") and not is_east_asian("Ｔａｒｏ")
