"""The soak's judgements: a replaced or vanished process is a death, a group drains only after
the load ended, and every kind of failure fails the soak."""

from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def soak(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import soak
    import soak_watch

    return soak, soak_watch


def test_a_process_replaced_by_its_supervisor_or_gone_is_a_death(soak, monkeypatch):
    _, watch = soak
    running = {"mongo": 10, "kafka": 11, "metrics": 12}
    monkeypatch.setattr(watch, "our_pids", lambda: dict(running))
    monkeypatch.setattr(watch, "rss_mb", lambda pid: float(pid))
    processes = watch.ProcessWatch(dict(running))
    processes.sample(1.0)
    assert processes.deaths == [] and processes.peak_rss_mb == {"mongo": 10.0, "kafka": 11.0, "metrics": 12.0}
    running["mongo"] = 20  # restarted under a new pid
    del running["metrics"]  # gone
    processes.sample(2.0)
    assert processes.deaths == [{"process": "mongo", "pid": 10, "at_s": 2.0, "replaced_by": 20},
                                {"process": "metrics", "pid": 12, "at_s": 2.0, "replaced_by": None}]
    processes.sample(3.0)  # the replacement is watched from now on: no second death for it
    assert len(processes.deaths) == 3 and processes.deaths[2]["process"] == "metrics"
    assert processes.peak_rss_mb["mongo"] == 20.0


def test_a_group_counts_as_drained_only_at_zero_after_the_load_ended(soak):
    _, watch = soak
    lags = watch.LagWatch()
    lags.sample({"hotline-metrics.tickets.followup": 0, "hotline-intake.hotline.raw": 5}, 1.0)
    assert lags.drained_after_s == {}  # zero during the load is not a drain
    lags.sample({"hotline-metrics.tickets.followup": 900, "hotline-intake.hotline.raw": 3}, 2.0)
    lags.load_ended_at = 0.0 + __import__("time").monotonic()
    lags.sample({"hotline-metrics.tickets.followup": 40, "hotline-intake.hotline.raw": 0}, 3.0)
    assert set(lags.drained_after_s) == {"hotline-intake.hotline.raw"}
    assert lags.peak == {"hotline-metrics.tickets.followup": 900, "hotline-intake.hotline.raw": 5}
    assert lags.peak_at_s == {"hotline-metrics.tickets.followup": 2.0, "hotline-intake.hotline.raw": 1.0}
    assert lags.undrained({"hotline-metrics.tickets.followup": 40, "hotline-intake.hotline.raw": 0}) == {
        "hotline-metrics.tickets.followup": 40}


def _result(**changes) -> dict:
    result = {"processes": {"deaths": []}, "lags": {"undrained": {}},
              "losses": {"raw_records_lost": 0, "tickets_never_dispatched": 0},
              "tests": {"exit_code": 0, "summary": "1403 passed"}}
    for key, value in changes.items():
        result[key] = {**result[key], **value}
    return result


def test_each_kind_of_failure_fails_the_soak_and_none_passes_it(soak):
    run, _ = soak
    assert run.failures(_result(), 120) == []
    assert run.failures(_result(processes={"deaths": [{"process": "mongo", "pid": 7, "at_s": 840.0}]}), 120) == [
        "mongo (pid 7) died at 840.0 s"]
    assert run.failures(_result(lags={"undrained": {"hotline-metrics.tickets.followup": 11_400}}), 120) == [
        "group hotline-metrics.tickets.followup still 11400 behind 120 s after the load"]
    assert run.failures(_result(losses={"raw_records_lost": 2}), 120) == [
        "2 raw records became neither a ticket nor a dead letter"]
    assert run.failures(_result(losses={"tickets_never_dispatched": 1}), 120) == ["1 tickets were never dispatched"]
    assert run.failures(_result(tests={"exit_code": 1, "summary": "1 failed, 1402 passed"}), 120) == [
        "the test suite failed: 1 failed, 1402 passed"]
