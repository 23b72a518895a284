"""The suite passes on any date: the fast tests run again in a process whose wall clock is years ahead."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
YEARS_AHEAD_DAYS = 5 * 365 + 17  # past several year ends, leap days and a different weekday


def test_the_fast_suite_passes_with_the_clock_years_ahead():
    result = subprocess.run(  # noqa: S603 (our own interpreter and test suite)
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not slow",
         f"--clock-ahead-days={YEARS_AHEAD_DAYS}", "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
