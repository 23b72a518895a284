"""The admin pages over the shipped default mappings (read-only), and activities of a type no rule knows."""

import shutil

import pytest

from bridge import config
from bridge.app import create_app
from bridge.config import SHIPPED_MAPPINGS, load_settings
from tests.admin.conftest import ADMIN_ENV, API_HEADERS, SF_FILE, login
from tests.conftest import BASE_ENV


@pytest.fixture
def shipped_app(tmp_path, monkeypatch, clock):
    """An app started in an empty folder without BRIDGE_MAPPINGS: it reads the shipped defaults. They are a
    copy here, so a faulty save could never touch the package itself."""
    package_copy = tmp_path / "package-defaults"
    shutil.copytree(SHIPPED_MAPPINGS, package_copy)
    monkeypatch.setattr(config, "SHIPPED_MAPPINGS", package_copy)
    monkeypatch.chdir(tmp_path)
    settings = load_settings({**BASE_ENV, **ADMIN_ENV, "BRIDGE_DB": str(tmp_path / "bridge.db")}, dotenv=None)
    assert settings.mappings_shipped and settings.mappings_dir == package_copy
    return create_app(settings, clock=clock)


def test_saving_the_shipped_defaults_is_refused_with_what_to_do(shipped_app):
    folder = shipped_app.extensions["bridge"].settings.mappings_dir
    before = (folder / SF_FILE).read_text(encoding="utf-8")
    client = shipped_app.test_client()
    response = client.put(f"/api/admin/mappings/{SF_FILE}", headers=API_HEADERS,
                          json={"text": before.replace("enabled: true", "enabled: false")})
    assert response.status_code == 422
    [problem] = response.json["problems"]
    assert "bridge init" in problem["message"] and "BRIDGE_MAPPINGS" in problem["message"]
    assert (folder / SF_FILE).read_text(encoding="utf-8") == before
    assert shipped_app.extensions["bridge"].store.admin.audit_entries()[0]["action"] == "save_rejected"


def test_the_pages_say_the_defaults_are_read_only(shipped_app):
    client = shipped_app.test_client()
    assert login(client).status_code == 303
    listing = client.get("/admin/mappings", headers={"Accept-Language": "ja"}).text
    assert "同梱の初期マッピング" in listing and "bridge init" in listing
    edit = client.get(f"/admin/mappings/{SF_FILE}", headers={"Accept-Language": "en"}).text
    assert "cannot be saved here" in edit and "BRIDGE_MAPPINGS" in edit


def test_an_editable_folder_shows_no_read_only_notice(admin):
    assert "cannot be saved here" not in admin.get("/admin/mappings", headers={"Accept-Language": "en"}).text


def test_the_timeline_marks_an_activity_of_unknown_type(admin, admin_app, clock):
    store = admin_app.extensions["bridge"].store
    with store.unit_of_work() as work:
        lead_id = work.leads.touch(clock(), email="emily.carter@northwind.example")
        work.leads.add_activity("a1", lead_id, "pricing_page_visit", "2026-11-20T09:00:00.000Z", None, 1, clock())
        work.leads.add_activity("a2", lead_id, "webnar_signup", "2026-11-20T10:00:00.000Z", None, 2, clock())
    english = admin.get(f"/admin/leads/{lead_id}", headers={"Accept-Language": "en"}).text
    assert english.count("Unknown type: no rule in handoff.yaml scores it") == 1
    japanese = admin.get(f"/admin/leads/{lead_id}", headers={"Accept-Language": "ja"}).text
    assert japanese.count("不明な種類です") == 1
