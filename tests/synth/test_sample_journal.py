"""The demo runner's journal (synth/sample_journal.py): a valid CSV journal for any end date and
length, nothing in the future, today's run left open, and the story the flags need (the spike
hurts during and the next morning, the new shoe starts the week of the spike)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.journal import read_journal_csv
from synth.sample import plan_runs
from synth.sample_journal import sample_journal

from tests.conftest import TODAY

ENDS = [TODAY + timedelta(days=k) for k in range(7)]  # every weekday


@pytest.mark.parametrize("weeks", [2, 7, 12])
@pytest.mark.parametrize("end", ENDS, ids=[d.strftime("%a") for d in ENDS])
def test_journal_is_valid_and_ends_before_todays_run(weeks, end):
    j = sample_journal(weeks=weeks, end_date=end)
    rows = read_journal_csv(j.to_csv(), end, "journal.csv")
    assert not rows.errors, rows.errors
    assert rows.pain.height == j.n_pain and rows.rpe.height == j.n_rpe
    assert all(e.local_date < end for e in j.entries)  # the run of end_date and its morning: open
    run_days = {r.local_start.date() for r in plan_runs(7, weeks, end)}
    for e in j.entries:  # every entry is about a run: on its day, or the morning after
        assert (e.local_date - timedelta(days=e.moment == "next_morning")) in run_days, e
    old, new = j.shoes
    assert old.retired_on == new.first_used - timedelta(days=1) == j.switch_date - timedelta(days=1)
    assert new.is_default and old.first_used < min(run_days)  # the old shoe was not new in the export
    assert j.switch_date in run_days and j.switch_date < j.spike_date


def test_the_spike_hurts_above_the_rules_thresholds():
    from models.thresholds import value

    j = sample_journal(weeks=12, end_date=TODAY)
    by = {(e.local_date, e.moment): e for e in j.entries}
    during = by[(j.spike_date, "during")].pain
    assert during > value("pain_during_warning")
    morning = by[(j.spike_date + timedelta(days=1), "next_morning")].pain
    before = [e.pain for e in j.entries if e.moment == "next_morning"
              and j.spike_date - timedelta(days=14) < e.local_date <= j.spike_date]
    assert len(before) >= value("pain_baseline_min_entries")
    assert morning - sum(before) / len(before) > value("pain_morning_above_baseline")
