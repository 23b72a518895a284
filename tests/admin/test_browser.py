"""A real browser (headless Chromium driven by Playwright) edits a mapping through the admin pages."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.app import create_app
from tests.admin.conftest import ADMIN_ENV, PASSWORD, SF_FILE

# A headless Chromium that dies under a loaded CI machine ("Target page, context or browser has been
# closed") is the browser's failure, not the admin pages': such a test gets one fresh browser and one
# more try (pytest-rerunfailures), and only for that error; any assertion failure fails at once.
pytestmark = [pytest.mark.slow, pytest.mark.flaky(reruns=1, only_rerun=["TargetClosedError"])]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 15_000


@pytest.fixture
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="the browser test needs Playwright's Python package: pip install playwright "
               "(no `playwright install`: it drives Debian's chromium)")
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip(f"the browser test needs Debian's chromium at {CHROMIUM}: apt-get install chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def served(make_settings) -> Iterator[tuple[str, Path]]:
    """The app on a loopback port, served by werkzeug in a thread."""
    from werkzeug.serving import make_server

    settings = make_settings(**ADMIN_ENV)  # development: the session cookie works over plain http
    server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", settings.mappings_dir
    server.shutdown()
    thread.join(timeout=10)


def test_log_in_break_fix_preview_save_and_see_the_history(browser, served):
    base, mappings = served
    original = (mappings / SF_FILE).read_text(encoding="utf-8")
    page = browser.new_page(locale="en-US")
    page.set_default_timeout(TIMEOUT_MS)

    page.goto(f"{base}/admin/mappings")
    assert page.url.startswith(f"{base}/admin/login")
    page.fill("#password", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{base}/admin/mappings")

    page.click(f"table.files a[href='/admin/mappings/{SF_FILE}']")
    page.wait_for_url(f"{base}/admin/mappings/{SF_FILE}")
    text = page.input_value("#text")
    assert text == original  # the textarea holds the file exactly

    page.fill("#text", text.replace("[trim, nfkc, lower]", "[trim, nfkc, lowr]"))
    page.click("button[value=save]")
    problems = page.locator("ul.problems").first
    problems.wait_for()
    assert f"{SF_FILE}:41" in problems.inner_text()
    assert "unknown transform 'lowr'" in problems.inner_text()
    assert "was NOT saved" in page.inner_text(".messages")
    assert "[trim, nfkc, lowr]" in page.input_value("#text")  # the admin's text is still there
    assert (mappings / SF_FILE).read_text(encoding="utf-8") == original

    fixed = text.replace("target: Title", "target: Title  # 役職 / job title")
    page.fill("#text", fixed)
    page.click("button[value=preview]")
    page.locator("#preview").wait_for()
    assert "Payload sent to salesforce Lead" in page.inner_text("#preview")
    assert '"Phone": "03-1234-5678"' in page.inner_text("pre.payload")
    assert (mappings / SF_FILE).read_text(encoding="utf-8") == original  # a preview saves nothing

    page.fill("#note", "役職にコメントを追加")
    page.click("button[value=save]")
    page.locator("p.flash").wait_for()
    assert "Saved as version 2" in page.inner_text("p.flash")
    assert (mappings / SF_FILE).read_text(encoding="utf-8") == fixed

    page.click(".sub a:has-text('History')")
    page.wait_for_url(f"{base}/admin/mappings/{SF_FILE}/history")
    newest = page.locator("article.version").first
    assert "Version 2" in newest.inner_text() and "active" in newest.inner_text()
    assert "役職にコメントを追加" in newest.inner_text() and "admin" in newest.inner_text()
    assert "+    target: Title  # 役職 / job title" in newest.locator("pre.diff").inner_text()


def test_a_japanese_browser_gets_japanese_labels(browser, served):
    base, _ = served
    page = browser.new_page(locale="ja-JP")
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{base}/admin/login")
    assert page.inner_text("h1") == "ログイン"
    assert page.get_attribute("html", "lang") == "ja"


def test_the_sla_page_is_reached_from_the_nav(browser, served):
    base, _ = served
    page = browser.new_page(locale="ja-JP")
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{base}/admin/login")
    page.fill("#password", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{base}/admin/mappings")
    page.click("nav a[href='/admin/sla']")
    page.wait_for_url(f"{base}/admin/sla")
    assert page.inner_text("h1") == "SLA (営業フォローの期限)"
    assert "期限を過ぎたタイマーはありません。" in page.inner_text("main")
