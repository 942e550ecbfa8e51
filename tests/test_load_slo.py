"""SLO thresholds from YAML, evaluated against fabricated Locust statistics (no Locust process, no gevent)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from load import slo

SPEC_YAML = """
profiles:
  default:
    overall: {p95: 2000}
  tag-listing:
    overall: {p50: 100, p95: 500, max_error_rate: 0.01, min_rps: 5}
    requests:
      listRepoTags: {p99: 800, max_error_rate: 0.0}
      listRepoLogs: {p95: 100}
"""


def _row(name: str, requests: int = 100, failures: int = 0, rps: float = 10.0, **pct: float) -> slo.RequestStats:
    return slo.RequestStats(name, requests, failures, rps, {float(k[1:]) / 100: v for k, v in pct.items()})


def _spec(profile: str = "tag-listing") -> slo.SloSpec:
    return slo.parse_slo(yaml.safe_load(SPEC_YAML), profile)


def _statuses(report: slo.SloReport) -> dict[tuple[str, str], str]:
    return {(c.scope, c.metric): c.status for c in report.checks}


def test_everything_within_limits_is_met() -> None:
    total = _row("overall", p50=40, p95=300, p99=700)
    report = slo.evaluate(_spec(), "tag-listing", total, [_row("listRepoTags", p99=700)])
    assert not report.breached
    assert _statuses(report)[("overall", "req/s")] == "ok"
    # The log operation never ran (absent from the target): reported, not a breach.
    assert _statuses(report)[("listRepoLogs", "p95")] == "no data"


def test_each_kind_of_threshold_can_breach() -> None:
    total = _row("overall", requests=100, failures=2, rps=4.0, p50=101, p95=500, p99=900)
    rows = [_row("listRepoTags", requests=100, failures=2, p99=801)]
    report = slo.evaluate(_spec(), "tag-listing", total, rows)
    statuses = _statuses(report)
    assert statuses[("overall", "p50")] == "BREACH"
    assert statuses[("overall", "p95")] == "ok"  # limits are inclusive: 500 <= 500
    assert statuses[("overall", "error rate")] == "BREACH"  # 2 % > 1 %
    assert statuses[("overall", "req/s")] == "BREACH"
    assert statuses[("listRepoTags", "p99")] == "BREACH"
    assert statuses[("listRepoTags", "error rate")] == "BREACH"
    assert report.breached
    table = report.render()
    assert "BREACHED" in table and "listRepoTags" in table and "<= 100 ms" in table


def test_no_requests_at_all_breaches_minimum_throughput_only() -> None:
    total = slo.RequestStats("overall", 0, 0, 0.0, {})
    statuses = _statuses(slo.evaluate(_spec(), "tag-listing", total, []))
    assert statuses[("overall", "p50")] == "no data"
    assert statuses[("overall", "error rate")] == "no data"
    assert statuses[("overall", "req/s")] == "BREACH"


def test_impossible_latency_breaches() -> None:
    spec = slo.parse_slo({"overall": {"p50": 0.001}}, "smoke")
    assert slo.evaluate(spec, "smoke", _row("overall", p50=1), []).breached


def test_profile_falls_back_to_default_then_to_nothing() -> None:
    assert _spec("mixed").overall.percentiles == {0.95: 2000.0}
    assert slo.parse_slo({"profiles": {"smoke": {}}}, "mixed").overall.empty
    assert slo.parse_slo(None, "smoke").overall.empty


def test_same_name_under_two_methods_merges_conservatively() -> None:
    spec = slo.parse_slo({"requests": {"op": {"p95": 100, "max_error_rate": 0.1}}}, "p")
    rows = [_row("op", requests=10, failures=0, p95=50), _row("op", requests=10, failures=3, p95=150)]
    statuses = _statuses(slo.evaluate(spec, "p", _row("overall"), rows))
    assert statuses[("op", "p95")] == "BREACH"  # the worse of the two
    assert statuses[("op", "error rate")] == "BREACH"  # 3/20 = 15 %


@pytest.mark.parametrize(("data", "message"), [
    ({"overall": {"p95": "fast"}}, "must be a number"),
    ({"overall": {"p42x": 1}}, "unknown threshold"),
    ({"overall": {"max_error_rate": 5}}, "fraction"),
    ({"overall": {}, "extra": 1}, "unknown key"),
    ({"profiles": {"a": {"requests": []}}}, "requests must map"),
    ({"profiles": {"other": {"overall": {"p95": -1}}}}, "must be a number >= 0"),  # checked although unused
    ([1, 2], "must hold a mapping"),
])
def test_bad_files_fail_with_one_line(data: Any, message: str) -> None:
    with pytest.raises(slo.SloError, match=message) as info:
        slo.parse_slo(data, "a")
    assert "\n" not in str(info.value)


def test_load_slo_reports_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(slo.SloError, match="cannot read"):
        slo.load_slo(tmp_path / "missing.yaml", "smoke")
    bad = tmp_path / "bad.yaml"
    bad.write_text("overall: [unclosed\n")
    with pytest.raises(slo.SloError, match="not valid YAML"):
        slo.load_slo(bad, "smoke")


def test_reads_locust_request_stats_by_attribute() -> None:
    def entry(name: str, n: int, failures: int, rps: float, times: dict[float, float]) -> Any:
        return SimpleNamespace(name=name, num_requests=n, num_failures=failures, total_rps=rps,
                               get_response_time_percentile=lambda q: times[q])

    stats = SimpleNamespace(
        entries={("getRepo", "GET"): entry("getRepo", 10, 1, 2.5, {0.5: 8, 0.95: 30})},
        total=entry("Aggregated", 10, 1, 2.5, {0.5: 8, 0.95: 30}))
    total, rows = slo.from_locust(stats, {0.5, 0.95})
    assert total == slo.RequestStats("overall", 10, 1, 2.5, {0.5: 8.0, 0.95: 30.0})
    assert rows[0].name == "getRepo" and rows[0].error_rate == 0.1


def test_reads_locust_csv(tmp_path: Path) -> None:
    header = ("Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
              "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
              "99.99%,100%")
    lines = [header,
             "GET,getRepo,58,0,8,8.1,2,32,346,11.25,0.0,8,9,10,10,13,20,21,33,33,33,33",
             "GET,listRepoTags,0,0,0,0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A",
             ",Aggregated,58,0,8,8.1,2,32,346,11.25,0.0,8,9,10,10,13,20,21,33,33,33,33"]
    path = tmp_path / "locust_stats.csv"
    path.write_text("\n".join(lines) + "\n")
    total, rows = slo.from_csv(path)
    assert total.name == "overall" and total.requests == 58 and total.percentiles[0.95] == 20.0
    assert total.percentiles[0.999] == 33.0
    assert [r.name for r in rows] == ["getRepo", "listRepoTags"] and rows[1].percentiles == {}


def test_error_budget_turns_locust_failures_into_success_only_within_it() -> None:
    spec = slo.parse_slo({"overall": {"max_error_rate": 0.05}}, "p")
    assert slo.tolerates_errors(spec, _row("overall", requests=100, failures=5))
    assert not slo.tolerates_errors(spec, _row("overall", requests=100, failures=6))
    assert not slo.tolerates_errors(slo.SloSpec(), _row("overall", requests=100, failures=1))


def test_the_shipped_slo_file_is_valid() -> None:
    shipped = Path(slo.__file__).with_name("slo.yaml")
    for profile in ("smoke", "tag-listing", "log-queries", "mixed", "unknown"):
        assert not slo.load_slo(shipped, profile).overall.empty
