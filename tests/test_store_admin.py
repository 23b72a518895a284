"""Store operations behind the admin pages: versions, audit log, login throttling."""

from datetime import UTC, datetime, timedelta

T = datetime(2026, 11, 21, 9, tzinfo=UTC)


def test_versions_number_per_file_and_keep_text(store):
    assert store.admin.add_mapping_version("a.yaml", "v1", "+v1", "admin", T) == 1
    assert store.admin.add_mapping_version("a.yaml", "v2", "-v1\n+v2", "admin", T, note="fix") == 2
    assert store.admin.add_mapping_version("b.yaml", "x", "+x", "admin", T) == 1
    assert [v["version"] for v in store.admin.mapping_versions("a.yaml")] == [2, 1]
    assert store.admin.mapping_version("a.yaml", 1)["text"] == "v1"
    assert store.admin.mapping_version("a.yaml", 9) is None


def test_audit_log_newest_first(store):
    store.admin.audit("admin", "login", None, None, T)
    store.admin.audit("admin", "save", "a.yaml", "version 2", T)
    assert [e["action"] for e in store.admin.audit_entries()] == ["save", "login"]


def test_login_failures_counted_in_a_window_and_cleared(store):
    for minutes in (0, 1, 2):
        store.admin.record_login_failure("10.0.0.1", T + timedelta(minutes=minutes))
    assert store.admin.login_failures_since("10.0.0.1", T + timedelta(minutes=1)) == 2
    assert store.admin.login_failures_since("10.0.0.2", T) == 0
    store.admin.clear_login_failures("10.0.0.1")
    assert store.admin.login_failures_since("10.0.0.1", T) == 0
