"""Service-level objectives for a load run: thresholds from YAML, checked against Locust's statistics at exit.

File format (see load/README.md):

    profiles:
      default:                 # for profiles without their own entry
        overall: {p95: 2000, max_error_rate: 0.01}
      tag-listing:
        overall: {p50: 100, p95: 500, p99: 1500, max_error_rate: 0.01, min_rps: 5}
        requests:              # keyed by request name, i.e. the operationId
          listRepoTags: {p95: 800}

A file holding `overall:` / `requests:` at the top applies to every profile. Latencies are milliseconds and
inclusive limits ("p95: 500" = the 95th percentile is at most 500 ms); `max_error_rate` is a fraction (0.01 = 1 %);
`min_rps` is requests per second over the run.

Never imports locust: the statistics are read through attribute access (Locust's RequestStats) or from
Locust's CSV file, so the parent process and the unit tests can evaluate without gevent.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXIT_BREACH = 3
OVERALL = "overall"
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")
_KNOWN = {"max_error_rate", "min_rps"}
# The percentile columns Locust writes to <prefix>_stats.csv.
_CSV_PERCENTILES = (0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0)


class SloError(ValueError):
    """The SLO file cannot be used; the message is one line."""


@dataclass(frozen=True)
class Thresholds:
    percentiles: dict[float, float] = field(default_factory=dict)  # quantile (0.95) -> max milliseconds
    max_error_rate: float | None = None
    min_rps: float | None = None

    @property
    def empty(self) -> bool:
        return not self.percentiles and self.max_error_rate is None and self.min_rps is None


@dataclass(frozen=True)
class SloSpec:
    overall: Thresholds = field(default_factory=Thresholds)
    requests: dict[str, Thresholds] = field(default_factory=dict)

    def quantiles(self) -> set[float]:
        wanted = set(self.overall.percentiles)
        for t in self.requests.values():
            wanted |= set(t.percentiles)
        return wanted


@dataclass(frozen=True)
class RequestStats:
    """One row of Locust's statistics: a request name, or the aggregate of all of them."""

    name: str
    requests: int
    failures: int
    rps: float
    percentiles: dict[float, float]  # quantile -> milliseconds; absent = not known

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Check:
    scope: str  # "overall" or a request name
    metric: str  # "p95", "error rate", "req/s"
    limit: str
    observed: str
    status: str  # "ok" | "BREACH" | "no data"


@dataclass(frozen=True)
class SloReport:
    profile: str
    checks: tuple[Check, ...]

    @property
    def breached(self) -> bool:
        return any(c.status == "BREACH" for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "breached": self.breached,
                "checks": [c.__dict__ for c in self.checks]}

    def render(self) -> str:
        """A plain table (no colour codes, so it reads the same in CI logs and files)."""
        header = ("scope", "metric", "limit", "observed", "status")
        rows = [header] + [(c.scope, c.metric, c.limit, c.observed, c.status) for c in self.checks]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = [f"SLO for profile {self.profile}: " + ("BREACHED" if self.breached else "met")]
        for i, row in enumerate(rows):
            lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
            if i == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
        if not self.checks:
            lines.append("  (no thresholds for this profile)")
        return "\n".join(lines)


# -- reading the file ------------------------------------------------------------------------------------------
def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SloError(f"{where} must be a number >= 0")
    return float(value)


def _thresholds(raw: Any, where: str) -> Thresholds:
    if not isinstance(raw, dict):
        raise SloError(f"{where} must be a mapping of thresholds (p95, max_error_rate, min_rps ...)")
    percentiles: dict[float, float] = {}
    error_rate = rps = None
    for key, value in raw.items():
        key = str(key)
        match = _PERCENTILE.match(key)
        if match:
            percentiles[float(match.group(1)) / 100] = _number(value, f"{where}.{key}")
        elif key == "max_error_rate":
            error_rate = _number(value, f"{where}.{key}")
            if error_rate > 1:
                raise SloError(f"{where}.max_error_rate is a fraction between 0 and 1")
        elif key == "min_rps":
            rps = _number(value, f"{where}.{key}")
        else:
            raise SloError(f"{where}: unknown threshold {key!r} (use p50, p95, p99 ..., max_error_rate, min_rps)")
    return Thresholds(percentiles, error_rate, rps)


def _spec(raw: Any, where: str) -> SloSpec:
    if not isinstance(raw, dict):
        raise SloError(f"{where} must be a mapping with 'overall' and/or 'requests'")
    unknown = set(raw) - {"overall", "requests"}
    if unknown:
        raise SloError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    requests = raw.get("requests")
    requests = {} if requests is None else requests
    if not isinstance(requests, dict):
        raise SloError(f"{where}.requests must map request names to thresholds")
    overall = raw.get("overall")
    return SloSpec(_thresholds({} if overall is None else overall, f"{where}.overall"),
                   {str(name): _thresholds(t, f"{where}.requests.{name}") for name, t in requests.items()})


def parse_slo(data: Any, profile: str) -> SloSpec:
    """The thresholds that apply to `profile` (its own entry, else `default`, else none)."""
    if data is None:
        return SloSpec()
    if not isinstance(data, dict):
        raise SloError("the SLO file must hold a mapping")
    if "profiles" not in data:
        return _spec(data, "slo")
    profiles = data["profiles"]
    unknown = set(data) - {"profiles"}
    if unknown or not isinstance(profiles, dict):
        raise SloError("the SLO file holds either 'profiles: {name: {...}}' or 'overall'/'requests' at the top")
    # Validate every entry, not only the one used, so a typo fails the first run rather than a later one.
    specs = {str(name): _spec(raw, f"profiles.{name}") for name, raw in profiles.items()}
    return specs.get(profile) or specs.get("default") or SloSpec()


def load_slo(path: Path, profile: str) -> SloSpec:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SloError(f"cannot read SLO file {path}: {exc.strerror}") from None
    except yaml.YAMLError:
        raise SloError(f"SLO file {path} is not valid YAML") from None
    try:
        return parse_slo(data, profile)
    except SloError as exc:
        raise SloError(f"SLO file {path}: {exc}") from None


# -- reading Locust's statistics -------------------------------------------------------------------------------
def from_locust(stats: Any, quantiles: Iterable[float]) -> tuple[RequestStats, list[RequestStats]]:
    """(aggregate, per-name rows) from a locust.stats.RequestStats, read by attribute so this module does not
    import locust."""

    def row(entry: Any, name: str) -> RequestStats:
        known = {q: float(entry.get_response_time_percentile(q)) for q in quantiles} if entry.num_requests else {}
        return RequestStats(name, int(entry.num_requests), int(entry.num_failures), float(entry.total_rps), known)

    rows = [row(entry, str(entry.name)) for entry in stats.entries.values()]
    return row(stats.total, OVERALL), rows


def from_csv(path: Path) -> tuple[RequestStats, list[RequestStats]]:
    """(aggregate, per-name rows) from Locust's <prefix>_stats.csv."""
    total: RequestStats | None = None
    rows = []
    with path.open(newline="") as handle:
        for record in csv.DictReader(handle):
            known = {}
            for q in _CSV_PERCENTILES:
                column = f"{q * 100:g}%"
                value = record.get(column, "N/A")
                if value not in (None, "", "N/A"):
                    known[q] = float(value)
            count = int(record["Request Count"])
            item = RequestStats(record["Name"], count, int(record["Failure Count"]), float(record["Requests/s"]),
                                known if count else {})
            if record["Name"] == "Aggregated" and not record.get("Type"):
                total = item
            else:
                rows.append(item)
    if total is None:
        raise SloError(f"{path} has no Aggregated row")
    return RequestStats(OVERALL, total.requests, total.failures, total.rps, total.percentiles), rows


# -- evaluation ------------------------------------------------------------------------------------------------
def _merge(rows: list[RequestStats], name: str) -> RequestStats | None:
    """Rows of one name (the same operationId under two methods is possible): summed counts, the worst
    percentile (percentiles cannot be combined exactly, and the worst one is the safe side of a limit)."""
    mine = [r for r in rows if r.name == name and r.requests]
    if not mine:
        return None
    quantiles: dict[float, float] = {}
    for r in mine:
        for q, v in r.percentiles.items():
            quantiles[q] = max(v, quantiles.get(q, v))
    return RequestStats(name, sum(r.requests for r in mine), sum(r.failures for r in mine),
                        sum(r.rps for r in mine), quantiles)


def _label(q: float) -> str:
    return f"p{q * 100:g}"


def _check(scope: str, t: Thresholds, row: RequestStats | None) -> list[Check]:
    out = []
    for q, limit in sorted(t.percentiles.items()):
        value = row.percentiles.get(q) if row is not None else None
        if value is None:
            out.append(Check(scope, _label(q), f"<= {limit:g} ms", "-", "no data"))
        else:
            out.append(Check(scope, _label(q), f"<= {limit:g} ms", f"{value:g} ms",
                             "BREACH" if value > limit else "ok"))
    if t.max_error_rate is not None:
        if row is None or not row.requests:
            out.append(Check(scope, "error rate", f"<= {t.max_error_rate:.2%}", "-", "no data"))
        else:
            out.append(Check(scope, "error rate", f"<= {t.max_error_rate:.2%}",
                             f"{row.error_rate:.2%} ({row.failures}/{row.requests})",
                             "BREACH" if row.error_rate > t.max_error_rate else "ok"))
    if t.min_rps is not None:
        # No request at all is the worst throughput, not missing data: it breaches.
        rps = row.rps if row is not None else 0.0
        out.append(Check(scope, "req/s", f">= {t.min_rps:g}", f"{rps:.1f}", "BREACH" if rps < t.min_rps else "ok"))
    return out


def evaluate(spec: SloSpec, profile: str, total: RequestStats, rows: list[RequestStats]) -> SloReport:
    """Every threshold of `spec` against the run's statistics. A request name that never ran (its operation is
    absent from the target, or its task never got a turn) reports "no data" for its latency and error checks
    rather than a breach: the skip is reported separately by the locustfile."""
    checks = _check(OVERALL, spec.overall, total)
    for name, thresholds in spec.requests.items():
        checks += _check(name, thresholds, _merge(rows, name))
    return SloReport(profile, tuple(checks))


def tolerates_errors(spec: SloSpec, total: RequestStats) -> bool:
    """Failures within an explicit overall max_error_rate are the budget the SLO allows: with no breach, such a
    run exits 0 rather than Locust's 1."""
    return spec.overall.max_error_rate is not None and total.error_rate <= spec.overall.max_error_rate
