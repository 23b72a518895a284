"""How `bridge serve` and `gunicorn -c python:bridge.gunicorn_conf` listen: BRIDGE_BIND, BRIDGE_WEB_WORKERS and
BRIDGE_WEB_THREADS are read through Settings (so `.env` counts) and bad values are listed, never a traceback."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import WebSettings, load_settings
from tests.conftest import BASE_ENV, SHIPPED_MAPPINGS

SHOW_GUNICORN_CONF = "import bridge.gunicorn_conf as c; print(c.bind, c.workers, c.threads)"


def run_python(code: str, cwd, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def clean_env(tmp_path) -> dict[str, str]:
    """This interpreter's environment without Bridge's settings, plus a database in tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "HUBSPOT_", "SALESFORCE_"))}
    return {**env, "BRIDGE_DB": str(tmp_path / "bridge.db")}


def test_web_settings_from_dotenv_and_defaults(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("BRIDGE_BIND=0.0.0.0:9123\nBRIDGE_WEB_WORKERS=3\nBRIDGE_WEB_THREADS=16\n")
    settings = load_settings({"BRIDGE_DB": str(tmp_path / "x.db")}, dotenv=dotenv)
    assert settings.web == WebSettings(bind="0.0.0.0:9123", workers=3, threads=16)
    assert load_settings({"BRIDGE_DB": str(tmp_path / "x.db")}, dotenv=None).web == WebSettings()
    unix = load_settings({"BRIDGE_DB": str(tmp_path / "x.db"), "BRIDGE_BIND": "unix:/run/bridge.sock"}, dotenv=None)
    assert unix.web.bind == "unix:/run/bridge.sock"


def test_gunicorn_conf_reads_dotenv(tmp_path):
    (tmp_path / ".env").write_text("BRIDGE_BIND=127.0.0.1:9321\nBRIDGE_WEB_WORKERS=3\n")
    result = run_python(SHOW_GUNICORN_CONF, tmp_path, clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["127.0.0.1:9321", "3", str(WebSettings.threads)]  # threads: the default


def test_gunicorn_conf_lists_bad_values_without_a_traceback(tmp_path):
    (tmp_path / ".env").write_text("BRIDGE_WEB_WORKERS=abc\nBRIDGE_WEB_THREADS=0\nBRIDGE_BIND=localhost\n")
    result = run_python(SHOW_GUNICORN_CONF, tmp_path, clean_env(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for expected in ("BRIDGE_WEB_WORKERS='abc' is not a whole number", "BRIDGE_WEB_THREADS=0 must be at least 1",
                     "BRIDGE_BIND='localhost' must be HOST:PORT"):
        assert expected in result.stderr


def test_bridge_serve_lists_bad_values_and_exits_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for key, value in {**BASE_ENV, "BRIDGE_DB": str(tmp_path / "bridge.db"), "BRIDGE_WEB_WORKERS": "abc",
                       "BRIDGE_BIND": "nowhere"}.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2
    assert "BRIDGE_WEB_WORKERS='abc' is not a whole number" in result.output
    assert "BRIDGE_BIND='nowhere' must be HOST:PORT" in result.output


def test_the_cli_does_not_import_prometheus_client_before_serve_sets_its_folder(tmp_path):
    # prometheus_client reads PROMETHEUS_MULTIPROC_DIR when imported: `bridge serve` sets it first (see cli.py).
    result = run_python("import sys, bridge.cli, bridge.live; print('prometheus_client' in sys.modules)",
                        tmp_path, clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# gunicorn's control socket defaults to one path per user; the gunicorn command must not open it (see gunicorn_conf).
SHOW_CONTROL_SOCKET = """
import sys
sys.argv = ["gunicorn", "-c", "python:bridge.gunicorn_conf", "wsgi:app"]
from gunicorn.app.wsgiapp import WSGIApplication
print(WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").cfg.control_socket_disable)
"""


def test_gunicorn_opens_no_control_socket_shared_by_every_instance(tmp_path):
    result = run_python(SHOW_CONTROL_SOCKET, tmp_path, clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]


def test_bridge_serve_hands_gunicorn_the_same_setting(tmp_path):
    # `bridge serve` copies every public name of gunicorn_conf into gunicorn's settings (bridge/cli.py).
    code = ("import bridge.gunicorn_conf as c; from gunicorn.config import Config; cfg = Config(); "
            "cfg.set('control_socket_disable', c.control_socket_disable); print(cfg.control_socket_disable)")
    result = run_python(code, tmp_path, clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]


@pytest.mark.slow
def test_a_running_gunicorn_leaves_no_control_socket_in_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in clean_env(tmp_path).items() if k != "XDG_RUNTIME_DIR"}
    env.update({**BASE_ENV, "BRIDGE_DB": str(tmp_path / "bridge.db"), "BRIDGE_MAPPINGS": str(SHIPPED_MAPPINGS),
                "HOME": str(home)})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:bridge.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "wsgi:app"], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    try:
        deadline = time.monotonic() + 30
        while True:  # bounded: wait until it answers
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.RequestException:
                assert server.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
    finally:
        server.terminate()
        _, log = server.communicate(timeout=30)
    assert not (home / ".gunicorn").exists()
    assert "Control socket" not in log
