"""Per-test outcomes aggregated per API area and per operationId: results.yaml, a static HTML page, and the
summary table printed at the end of a run."""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from harness.checks import Outcome

LABELS = tuple(o.label for o in sorted(Outcome, reverse=True))  # error, failed, passed, skipped, disabled
ORDER = ("passed", "failed", "error", "skipped", "disabled")


@dataclass
class TestResult:
    nodeid: str
    outcome: Outcome
    area: str
    operations: list[str] = field(default_factory=list)
    reason: str = ""
    duration: float = 0.0


def _counts() -> dict[str, int]:
    return dict.fromkeys(ORDER, 0)


def aggregate(results: Iterable[TestResult], *, run_id: str, target: str, started: float) -> dict[str, Any]:
    tests = sorted(results, key=lambda r: r.nodeid)
    totals = _counts()
    areas: dict[str, dict[str, int]] = {}
    operations: dict[str, dict[str, Any]] = {}
    for r in tests:
        label = r.outcome.label
        totals[label] += 1
        areas.setdefault(r.area, _counts())[label] += 1
        for op in r.operations:
            entry = operations.setdefault(op, {"area": r.area, **_counts(), "tests": []})
            entry[label] += 1
            entry["tests"].append(r.nodeid)
    worst = max((r.outcome for r in tests), default=Outcome.PASSED)
    return {
        "run_id": run_id,
        "target": target,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 2),
        "outcome": worst.label,
        "totals": totals,
        "areas": dict(sorted(areas.items())),
        "operations": dict(sorted(operations.items())),
        "tests": [{"nodeid": r.nodeid, "outcome": r.outcome.label, "area": r.area, "operations": r.operations,
                   **({"reason": r.reason} if r.reason else {}), "duration_s": round(r.duration, 3)}
                  for r in tests],
    }


def write_results(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=120), encoding="utf-8")


def read_results(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}


_CSS = """body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#eee}
.passed{color:#060}.failed{color:#b00}.error{color:#b00;font-weight:bold}.skipped,.disabled{color:#777}"""


def _table(headers: Iterable[str], rows: Iterable[Iterable[Any]], classes: Iterable[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = []
    class_list = list(classes) if classes is not None else None
    for i, row in enumerate(rows):
        css = f' class="{class_list[i]}"' if class_list is not None else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def write_html(data: dict[str, Any], path: Path) -> None:
    """A static page from results.yaml: our own template, no extra dependency."""
    areas = data.get("areas", {})
    ops = data.get("operations", {})
    tests = data.get("tests", [])
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>quay-harness {html.escape(data['run_id'])}"
        f"</title><style>{_CSS}</style></head><body>",
        f"<h1>quay-harness run {html.escape(data['run_id'])}: "
        f"<span class='{data['outcome']}'>{html.escape(data['outcome'])}</span></h1>",
        f"<p>Target {html.escape(str(data['target']))}, started {html.escape(data['started'])}, "
        f"{data['duration_s']} s.</p>",
        "<h2>Totals</h2>", _table(ORDER, [[data["totals"][k] for k in ORDER]]),
        "<h2>Areas</h2>", _table(("area", *ORDER), [[a, *(c[k] for k in ORDER)] for a, c in areas.items()]),
        "<h2>Operations</h2>",
        _table(("operationId", "area", *ORDER), [[o, e["area"], *(e[k] for k in ORDER)] for o, e in ops.items()]),
        "<h2>Tests</h2>",
        _table(("test", "outcome", "area", "operations", "reason"),
               [[t["nodeid"], t["outcome"], t["area"], " ".join(t["operations"]), t.get("reason", "")]
                for t in tests], [t["outcome"] for t in tests]),
        "</body></html>",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")


_STYLE = {"passed": "green", "failed": "red", "error": "bold red", "skipped": "yellow", "disabled": "dim"}


def print_summary(data: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(stderr=False)
    table = Table(title=f"quay-harness run {data['run_id']} against {data['target']}")
    table.add_column("area")
    for key in ORDER:
        table.add_column(key, justify="right", style=_STYLE[key])
    for area, counts in data.get("areas", {}).items():
        table.add_row(area, *(str(counts[k]) for k in ORDER))
    table.add_section()
    table.add_row("total", *(str(data["totals"][k]) for k in ORDER), style="bold")
    console.print(table)
    console.print(f"outcome: [{_STYLE[data['outcome']]}]{data['outcome']}[/]")
