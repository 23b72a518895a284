"""bench/sla.py keeps working: a tiny run through the real timers stage, and its arithmetic and verdicts."""

from __future__ import annotations

from datetime import timedelta

from bench.sla import DEADLINE, Notices, Pass, Result, percentile, run, summary


def test_percentile_is_the_nearest_rank():
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50.0, 99.0, 100.0)
    assert percentile([7.0], 99) == 7.0


def test_a_tiny_run_breaches_every_due_clock_once_and_batches_the_notices(tmp_path):
    result = run(clocks=140, due=120, scans=4, folder=tmp_path)
    assert result.breached == len(result.lag) == 120
    assert 0 < min(result.lag) <= max(result.lag) <= result.seconds  # lag runs to the commit of the pass
    assert result.notices == Notices(items=120, messages=3, sent=120, largest=50, seconds=result.notices.seconds,
                                     feedback=120)
    assert result.notices.feedback_calls == 2  # 120 writes in batches of 100
    assert all(wall > 0 and cpu > 0 for wall, cpu in result.idle.values())
    table = summary(result)
    assert "**missed**" not in "\n".join(table)
    assert "| 120 → 3 messages carrying 120 notices" in next(line for line in table if "Slack notices" in line)


def fake_result(idle_ms: float, lag_p99: float, messages: int) -> Result:
    lag = [1.0] * 98 + [lag_p99, lag_p99]
    passes = [Pass(DEADLINE, DEADLINE + timedelta(seconds=lag_p99), 100)]
    return Result(clocks=1000, due=100, seed_seconds=1.0,
                  idle={"scan": (idle_ms, idle_ms), "transaction": (0.02, 0.02), "outbox": (0.1, 0.1),
                        "scan_after": (idle_ms, idle_ms), "outbox_after": (0.1, 0.1)},
                  passes=passes, lag=lag, notices=Notices(100, messages, 100, 50, 0.1, 100), load=(1.0, 1.0))


def test_the_summary_says_which_targets_were_missed():
    assert "**missed**" not in "\n".join(summary(fake_result(9.9, 60.0, 2)))
    missed = summary(fake_result(10.1, 60.5, 100))  # one message per notice is not batching
    assert [line.split(" |")[0] for line in missed if "**missed**" in line] == [
        "| idle scan (nothing due), median", "| idle scan after the breaches (100 clocks waiting for sales)",
        "| lag, deadline → escalation committed: p50 / p99 / max",
        "| Slack notices: queued items → messages (≤ 50 a message)"]
