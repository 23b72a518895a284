"""`bridge calendar check | add | closed`, through the `bridge` command's main and click's CliRunner."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bridge.cli import main

CALENDAR = """\
# the SLA rules' other sections are not the calendar's business
policies: []
calendar:
  zone: Asia/Tokyo
  hours: {opens: "09:00", closes: "18:00", lunch: "12:00-13:00"}
  closures:
    - {name: お盆, from: 2026-08-13, to: 2026-08-16}
    - {name: 創立記念日, date: "10-01"}
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """An empty mappings folder that Bridge reads (and no stray .env)."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "mappings"
    folder.mkdir()
    monkeypatch.setenv("BRIDGE_MAPPINGS", str(folder))
    return folder


def run(*args: str):
    return CliRunner().invoke(main, ["calendar", *args], catch_exceptions=False)


def test_without_sla_yaml_the_defaults_say_so_first(folder):
    result = run("check", "2026-05-06")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"カレンダー / calendar: 既定値 / defaults ({folder / 'sla.yaml'} がありません / not found): Asia/Tokyo "
        "09:00–18:00, 年末年始 12/29–1/3 休み / closed",
        "2026-05-06 (水) 休業日 / closed: 祝日 / national holiday: 振替休日",
        "次の営業開始 / next opening: 2026-05-07 (木) 09:00",
    ]


def test_sla_yaml_without_a_calendar_section_is_the_defaults(folder):
    (folder / "sla.yaml").write_text("policies: []\n", encoding="utf-8")
    first = run("check", "2026-05-07").output.splitlines()[0]
    assert "既定値 / defaults" in first and "has no calendar: section" in first


def test_the_calendar_section_of_sla_yaml(folder):
    (folder / "sla.yaml").write_text(CALENDAR, encoding="utf-8")
    result = run("check", "2026-08-14")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"カレンダー / calendar: {folder / 'sla.yaml'} の calendar: / the calendar: section of {folder / 'sla.yaml'}: "
        "Asia/Tokyo 09:00–18:00, 昼休み / lunch 12:00–13:00, 年末年始 12/29–1/3 休み / closed, "
        "休業日 / company closures: お盆, 創立記念日",
        "2026-08-14 (金) 休業日 / closed: 休業日 / company closure: お盆",
        "次の営業開始 / next opening: 2026-08-17 (月) 09:00",
    ]
    assert run("check", "2026-08-12").output.splitlines()[1] == (
        "2026-08-12 (水) 営業日 / business day: 09:00–18:00, 昼休み / lunch 12:00–13:00")


def test_a_bad_calendar_section_is_refused_at_file_and_line(folder):
    (folder / "sla.yaml").write_text(CALENDAR.replace('closes: "18:00"', 'closes: "08:00"').replace(
        "to: 2026-08-16", "to: 2026-08-12"), encoding="utf-8")
    result = run("closed", "2026")
    assert result.exit_code == 1
    path = folder / "sla.yaml"
    assert result.stderr.splitlines() == [
        f"{path}:5: calendar.hours.closes: 終業 08:00 は始業 09:00 より後にしてください / closes 08:00 is not after "
        "opens 09:00",
        f"{path}:7: calendar.closures[0].to: 休業日 お盆: 終了日が開始日より前です / company closure お盆: last day "
        "2026-08-12 is before the first 2026-08-13",
        "2 problem(s) / 件の問題があります",
    ]
    assert "カレンダー" not in result.stdout


def test_an_impossible_unquoted_date_is_a_problem_not_a_traceback(folder):
    (folder / "sla.yaml").write_text("calendar:\n  closures:\n    - {name: x, date: 2026-02-30}\n", encoding="utf-8")
    result = run("closed", "2026")
    assert result.exit_code == 1
    assert "day is out of range for month" in result.stderr


def test_add_business_days_across_year_end(folder):
    result = run("add", "2026-12-25T17:00", "3", "days")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        "2026-12-25 (金) 17:00 + 3 営業日 / business days",
        "= 2027-01-05 (火) 17:00 Asia/Tokyo",
        "営業時間にして / business time between: 27:00 (1620 分 / minutes)",
        "間の休業日 (土日を除く) / closed days passed, weekends aside:",
        "  2026-12-29 (火) 年末年始 / year-end holidays",
        "  2026-12-30 (水) 年末年始 / year-end holidays",
        "  2026-12-31 (木) 年末年始 / year-end holidays",
        "  2027-01-01 (金) 祝日 / national holiday: 元日",
        "  2027-01-02 (土) 年末年始 / year-end holidays",
        "  2027-01-03 (日) 年末年始 / year-end holidays",
    ]


@pytest.mark.parametrize(("args", "answer"), [
    (("2026-05-01T17:00", "3", "hours"), "= 2026-05-07 (木) 11:00 Asia/Tokyo"),  # Golden Week
    (("2026-06-05T20:00", "3", "営業日"), "= 2026-06-10 (水) 18:00 Asia/Tokyo"),  # a Friday-evening lead
    (("2026-06-10T18:00", "-1", "days"), "= 2026-06-10 (水) 09:00 Asia/Tokyo"),  # a negative amount
    (("2026-06-05T11:00+00:00", "30", "minutes"), "= 2026-06-08 (月) 09:30 Asia/Tokyo"),  # 20:00 JST
])
def test_add_answers(folder, args, answer):
    result = run("add", *args)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[2] == answer


def test_add_refuses_what_is_not_a_date_and_time(folder):
    result = run("add", "next friday", "3", "days")
    assert result.exit_code == 2
    assert "write a date and time as 2026-12-25T17:00" in result.output


def test_closed_lists_a_year_one_day_per_line(folder):
    (folder / "sla.yaml").write_text(CALENDAR, encoding="utf-8")
    lines = run("closed", "2027").output.splitlines()
    assert lines[1:4] == ["2027-01-01 (金) 祝日 / national holiday: 元日",
                          "2027-01-02 (土) 年末年始 / year-end holidays",
                          "2027-01-03 (日) 年末年始 / year-end holidays"]
    assert "2027-03-22 (月) 祝日 / national holiday: 振替休日" in lines
    assert "2027-10-01 (金) 休業日 / company closure: 創立記念日" in lines
    assert "2027-01-09 (土) 土曜日 / Saturday" not in lines
    assert lines[-1] == "23 日 / days closed (土日を除く / weekends aside)"
    with_weekends = run("closed", "2027", "--weekends").output.splitlines()
    assert "2027-01-09 (土) 土曜日 / Saturday" in with_weekends
