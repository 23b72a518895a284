"""Number settings that float() reads but no one means (nan, inf) are refused at start-up, naming the setting."""

import pytest

from bridge.config import load_settings
from bridge.kernel.errors import ConfigError

# BRIDGE_READ_TIMEOUT_SECONDS=nan cut every request still being read at the next sweep (408 in 0.2 s), =inf turned
# the slow-client deadline off; BRIDGE_POLL_SECONDS=nan made the worker spin, =inf crashed it with an OverflowError.
SETTINGS = ("BRIDGE_READ_TIMEOUT_SECONDS", "BRIDGE_POLL_SECONDS", "BRIDGE_RETRY_HOURS", "BRIDGE_RETRY_BASE_SECONDS",
            "BRIDGE_RETRY_MAX_SECONDS")


@pytest.mark.parametrize("name", SETTINGS)
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
def test_a_number_setting_that_is_not_finite_is_a_problem_naming_it(tmp_path, name, value):
    with pytest.raises(ConfigError) as caught:
        load_settings({"BRIDGE_DB": str(tmp_path / "x.db"), name: value}, dotenv=None)
    assert caught.value.problems == [f"{name}={value!r} is not a finite number"]


def test_finite_numbers_are_still_read(tmp_path):
    settings = load_settings({"BRIDGE_DB": str(tmp_path / "x.db"), "BRIDGE_READ_TIMEOUT_SECONDS": "2.5",
                              "BRIDGE_POLL_SECONDS": "1e-1"}, dotenv=None)
    assert settings.web.read_timeout == 2.5 and settings.worker.poll_seconds == 0.1
