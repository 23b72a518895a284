"""`bridge demo` leaves nothing behind: its temporary folder goes on exit, Ctrl-C and SIGTERM included,
and stays (named) only when the demo failed and its log is worth reading."""

import os
import signal

import pytest

from bridge import demo


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(demo.tempfile, "tempdir", str(tmp_path))  # mkdtemp makes its folders here
    return tmp_path


def test_removed_after_a_normal_run(private_tmp):
    with demo.scratch_folder() as folder:
        (folder / "bridge.log").write_text("ok")
    assert not folder.exists() and list(private_tmp.iterdir()) == []


def test_removed_after_ctrl_c(private_tmp):
    with pytest.raises(KeyboardInterrupt), demo.scratch_folder() as folder:
        raise KeyboardInterrupt
    assert not folder.exists()


def test_sigterm_stops_the_demo_like_ctrl_c_and_the_handler_is_restored(private_tmp):
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), demo.scratch_folder() as folder:
        os.kill(os.getpid(), signal.SIGTERM)  # Python runs the handler before the next statement
        raise AssertionError("SIGTERM did not stop the demo")
    assert not folder.exists()
    assert signal.getsignal(signal.SIGTERM) == before


def test_kept_and_named_when_the_demo_fails(private_tmp, capsys):
    with pytest.raises(TimeoutError), demo.scratch_folder() as folder:
        raise TimeoutError("Bridge did not settle")
    assert folder.is_dir()
    assert str(folder) in capsys.readouterr().err
