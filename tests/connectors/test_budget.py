"""bridge/kernel/budget.py: limits spent without sleeping, fixed daily windows, priority shares, thread safety."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from bridge.kernel.budget import Limit, LocalBudget, current_priority, spending
from bridge.kernel.errors import RateLimited
from connectors.testing import FakeClock


def spend(budget: LocalBudget, clock: FakeClock, limit: Limit, times: int, pool: str = "api") -> int:
    """Take up to `times` calls; how many went before the first refusal."""
    for taken in range(times):
        try:
            budget.take("hubspot", pool, limit, clock())
        except RateLimited:
            return taken
    return times


def test_a_rolling_window_frees_one_call_as_each_old_one_leaves(clock):
    budget, limit = LocalBudget(), Limit(2, 10.0)
    budget.take("hubspot", "api", limit, clock())
    clock.advance(seconds=3)
    budget.take("hubspot", "api", limit, clock())
    with pytest.raises(RateLimited) as caught:
        budget.take("hubspot", "api", limit, clock())
    assert caught.value.retry_after == pytest.approx(7.0)
    assert "api: no call left (2 calls in any 10 s)" in str(caught.value)
    clock.advance(seconds=7)
    budget.take("hubspot", "api", limit, clock())
    with pytest.raises(RateLimited) as caught:
        budget.take("hubspot", "api", limit, clock())
    assert caught.value.retry_after == pytest.approx(3.0)


def test_pools_and_systems_are_counted_apart(clock):
    budget, limit = LocalBudget(), Limit(1, 10.0)
    budget.take("hubspot", "api", limit, clock())
    budget.take("hubspot", "search", limit, clock())
    budget.take("kintone", "api", limit, clock())
    with pytest.raises(RateLimited):
        budget.take("hubspot", "api", limit, clock())


def test_a_call_without_a_limit_is_never_refused(clock):
    budget = LocalBudget()
    for _ in range(1000):
        budget.take("salesforce", "api", None, clock())


def test_a_fixed_daily_window_resets_at_midnight_utc_not_a_day_after_the_first_call():
    clock = FakeClock(datetime(2026, 11, 20, 23, 0, tzinfo=UTC))
    budget, limit = LocalBudget(), Limit(2, 86_400, fixed=True)
    assert spend(budget, clock, limit, 3) == 2
    with pytest.raises(RateLimited) as caught:
        budget.take("hubspot", "api", limit, clock())
    assert caught.value.retry_after == 3600  # 00:00 UTC, 9:00 in Tokyo
    clock.advance(hours=1)
    assert spend(budget, clock, limit, 3) == 2


def test_lower_priorities_stop_at_their_share_and_leave_the_rest_to_handoffs(clock):
    budget, limit = LocalBudget(), Limit(10, 10.0)
    with spending("reconcile"):
        assert current_priority() == "reconcile"
        assert spend(budget, clock, limit, 10) == 5
    with spending("feedback"):
        assert spend(budget, clock, limit, 10) == 3  # 80 %: up to 8 in the window
    assert current_priority() == "handoff"
    assert spend(budget, clock, limit, 10) == 2
    with spending("reconcile"), pytest.raises(RateLimited) as caught:
        budget.take("hubspot", "api", limit, clock())
    # Reconciliation may go again once 6 of the 10 calls have left the window, i.e. the oldest call.
    assert caught.value.retry_after == pytest.approx(10.0)
    assert "5 of them for reconcile calls" in str(caught.value)


def test_an_unknown_priority_is_refused_by_name():
    with pytest.raises(ValueError, match="handoff, feedback, reconcile"), spending("urgent"):
        pass


def test_the_priority_is_per_thread(clock):
    seen = []
    with spending("reconcile"):
        worker = threading.Thread(target=lambda: seen.append(current_priority()))
        worker.start()
        worker.join()
    assert seen == ["handoff"]


def test_threads_never_overspend(clock):
    budget, limit = LocalBudget(), Limit(50, 10.0)
    taken = []

    def hammer():
        taken.append(spend(budget, clock, limit, 40))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(taken) == 50
