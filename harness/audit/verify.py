"""Reading the target's audit log and matching it to the recorded calls.

The reader walks the superuser listing (`listAllLogs`, newest first, every namespace) as the admin persona back to
the oldest call of the batch. Each call's expected entries are matched one-to-one to log entries (a maximum
bipartite matching, so two identical calls need two entries and a specific expectation is never starved by a
loose one). A call passes when all its required entries are found; otherwise it fails with what was expected and
the nearest entries of that kind."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from harness.audit.expectations import LOGGED, UNLOGGED, Expected, OneOf
from harness.audit.ledger import CallResult, MutatingCall
from harness.checks import Outcome

LIST_ALL_LOGS = "listAllLogs"
MAX_PAGES = 200  # 4000 entries: far more than one test's window holds
DETAIL_LIMIT = 900


@dataclass(frozen=True)
class LogEntry:
    kind: str
    metadata: dict[str, Any]
    performer: str | None
    namespace: str | None
    at: dt.datetime | None

    @classmethod
    def parse(cls, raw: Any) -> LogEntry:
        if not isinstance(raw, dict):
            raise ValueError(f"a log entry is not an object: {raw!r}")
        performer = raw.get("performer")
        namespace = raw.get("namespace")
        metadata = raw.get("metadata")
        return cls(kind=str(raw.get("kind", "")),
                   metadata=metadata if isinstance(metadata, dict) else {},
                   performer=str(performer["name"]) if isinstance(performer, dict) and "name" in performer else None,
                   namespace=str(namespace["name"]) if isinstance(namespace, dict) and "name" in namespace else None,
                   at=_parse_time(raw.get("datetime")))

    def describe(self) -> str:
        when = self.at.strftime("%H:%M:%S") if self.at else "?"
        meta = json.dumps(self.metadata, sort_keys=True, default=str)
        if len(meta) > 240:
            meta = meta[:240] + "..."
        return (f"{self.kind} at {when} in {self.namespace or '(no namespace)'} by "
                f"{self.performer or '(no performer)'} {meta}")


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def same_value(expected: Any, actual: Any) -> bool:
    """Metadata values compare as JSON would carry them; ids may come back as numbers or strings. An expected
    `OneOf` matches any of its spellings."""
    if isinstance(expected, OneOf):
        return any(same_value(option, actual) for option in expected.options)
    if expected == actual:
        return isinstance(expected, bool) == isinstance(actual, bool)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return False
    if isinstance(expected, int | float | str) and isinstance(actual, int | float | str):
        return str(expected) == str(actual)
    return False


def mismatches(expected: Expected, call: MutatingCall, entry: LogEntry) -> list[str]:
    """Why `entry` cannot be the one `expected` describes (empty: it can)."""
    problems = []
    if entry.kind not in expected.kinds:
        problems.append(f"kind {entry.kind}")
    if expected.namespace is not None and entry.namespace != expected.namespace:
        problems.append(f"namespace {entry.namespace}")
    if expected.check_performer and entry.performer != expected.performer:
        problems.append(f"performer {entry.performer}")
    for key, value in expected.metadata.items():
        if key not in entry.metadata:
            problems.append(f"metadata lacks {key}")
        elif not same_value(value, entry.metadata[key]):
            problems.append(f"metadata {key}={entry.metadata[key]!r}")
    if entry.at is not None and call.earliest is not None and entry.at < call.earliest:
        problems.append("older than the call")
    return problems


def match(wanted: Sequence[tuple[MutatingCall, Expected]], entries: Sequence[LogEntry]) -> dict[int, int]:
    """A maximum one-to-one assignment wanted index -> entry index (Kuhn's augmenting paths)."""
    by_kind: dict[str, list[int]] = {}
    for j, entry in enumerate(entries):
        by_kind.setdefault(entry.kind, []).append(j)
    candidates = [[j for kind in exp.kinds for j in by_kind.get(kind, ()) if not mismatches(exp, call, entries[j])]
                  for call, exp in wanted]
    owner: dict[int, int] = {}  # entry -> wanted

    def assign(i: int, seen: set[int]) -> bool:
        for j in candidates[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or assign(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(wanted)):
        assign(i, set())
    return {i: j for j, i in owner.items()}


@dataclass
class ReadResult:
    entries: list[LogEntry]
    complete: bool = True  # reached entries older than `since` (or the end of the listing)
    skipped: str | None = None  # the target cannot show its logs (the feature or the right is missing)
    failed: str | None = None  # the target answered wrongly


Enough = Callable[[list[LogEntry]], bool]


class LogReader(Protocol):
    def read(self, since: dt.datetime | None, enough: Enough | None = None) -> ReadResult: ...


class PagedLogReader:
    """One of Quay's log listings, newest first, following next_page until the entries are older than `since` or
    `enough` says the entries read so far hold what is looked for. The listings' default window (the last day)
    holds every call of a test."""

    def __init__(self, client: Any, operation: str = LIST_ALL_LOGS, *, max_pages: int = MAX_PAGES,
                 who: str = "the configured superuser", **path_params: str) -> None:
        self.client = client  # a QuayClient (Any: the harness passes one without audit hooks)
        self.operation = operation
        self.path_params = path_params
        self.who = who
        self.max_pages = max_pages

    def read(self, since: dt.datetime | None, enough: Enough | None = None) -> ReadResult:
        op = self.operation
        if op not in self.client.catalog:
            return ReadResult([], skipped=f"the target's discovery has no {op}: its audit log cannot be read")
        entries: list[LogEntry] = []
        token: str | None = None
        for _ in range(self.max_pages):
            params = {"next_page": token} if token else None
            try:
                response = self.client.call(op, params=params, **self.path_params)
            except httpx.HTTPError as exc:
                raise RuntimeError(f"{op} could not be reached: {exc}") from None
            if response.status_code in (401, 403):
                return ReadResult(entries, skipped=f"{self.who} may not read {op} ({op} answered "
                                                   f"{response.status_code})")
            if response.status_code != 200:
                return ReadResult(entries, failed=f"{op} answered HTTP {response.status_code} to {self.who}")
            try:
                body = response.json()
            except ValueError:
                return ReadResult(entries, failed=f"{op} did not answer JSON")
            if not isinstance(body, dict) or not isinstance(body.get("logs"), list):
                return ReadResult(entries, failed=f"{op} answered no 'logs' list")
            if body.get("search_unavailable"):
                return ReadResult(entries, skipped="the target's log search is not configured (search_unavailable)")
            try:
                page = [LogEntry.parse(raw) for raw in body["logs"]]
            except ValueError as exc:
                return ReadResult(entries, failed=f"{op}: {exc}")
            entries.extend(page)
            token = body.get("next_page") if isinstance(body.get("next_page"), str) else None
            oldest = min((e.at for e in page if e.at is not None), default=None)
            if not token or not page or (since is not None and oldest is not None and oldest < since):
                return ReadResult(entries)
            if enough is not None and enough(entries):
                return ReadResult(entries)
        return ReadResult(entries, complete=False)


class SuperuserLogReader(PagedLogReader):
    """`GET /api/v1/superuser/logs` (listAllLogs) as the admin: every namespace's entries."""

    def __init__(self, client: Any, *, max_pages: int = MAX_PAGES) -> None:
        super().__init__(client, LIST_ALL_LOGS, max_pages=max_pages)


# Readers of one namespace's own listing (listOrgLogs, listUserLogs) for a (namespace, caller) pair, first that can
# read it first; empty when nobody the run holds may read it.
NamespaceLogs = Callable[[str, str | None], Sequence[LogReader]]


@dataclass(frozen=True)
class Plan:
    call: MutatingCall
    required: list[Expected]
    verdict: CallResult | None  # decided without reading the logs


def plan(call: MutatingCall) -> Plan:
    """What to look for: the table's required entries, or a verdict when there is nothing to look for."""
    op = call.operation_id
    if op in UNLOGGED:
        return Plan(call, [], CallResult(op, Outcome.SKIPPED, f"Quay writes no audit entry: {UNLOGGED[op]}",
                                         call.test))
    if op not in LOGGED:
        return Plan(call, [], CallResult(op, Outcome.ERROR, f"{op} has no audit-log declaration in "
                                                             "harness/audit/expectations.py", call.test))
    try:
        expected = LOGGED[op].rule(call)
    except Exception as exc:  # our rule broke on this call
        return Plan(call, [], CallResult(op, Outcome.ERROR, f"the rule for {op} raised {type(exc).__name__}: "
                                                             f"{exc}", call.test))
    required = [e for e in expected if e.required]
    if not expected:
        return Plan(call, [], CallResult(op, Outcome.SKIPPED, f"Quay writes no entry for this {op} request",
                                         call.test))
    if not required:
        return Plan(call, [], CallResult(op, Outcome.SKIPPED, "for this request Quay's entry depends on state the "
                                                              "request does not show", call.test))
    return Plan(call, required, None)


class Verifier:
    """Turns a batch of calls into verdicts: plan, read once, match; when something is missing, read once more
    (after `retry_s`, for log backends that index asynchronously) before calling it missing.

    The second read matters on Quay itself: its log pages are cut by timestamp, and once two entries share the
    timestamp at a page boundary every later page skips entries (paginate's offset is carried over to every page
    after it). A walk that starts from a different newest entry cuts its pages elsewhere and finds them."""

    def __init__(self, reader: LogReader, *, retry_s: float = 0.0, sleep: Callable[[float], None] = time.sleep,
                 namespace_logs: NamespaceLogs | None = None) -> None:
        self.reader = reader
        self.retry_s = retry_s
        self.sleep = sleep
        self.namespace_logs = namespace_logs

    def __call__(self, calls: list[MutatingCall]) -> list[CallResult]:
        plans = [plan(call) for call in calls]
        results: dict[int, CallResult] = {i: p.verdict for i, p in enumerate(plans) if p.verdict is not None}
        todo = [i for i, p in enumerate(plans) if p.verdict is None]
        if not todo:
            return [results[i] for i in range(len(plans))]
        bounds = [plans[i].call.earliest for i in todo]
        since = None if any(b is None for b in bounds) else min(b for b in bounds if b is not None)
        verdicts = self._check([plans[i] for i in todo], since)
        if any(v.outcome is Outcome.FAILED for v in verdicts):
            if self.retry_s > 0:
                self.sleep(self.retry_s)
            verdicts = self._check([plans[i] for i in todo], since)
        if self.namespace_logs is not None and any(v.outcome is Outcome.FAILED for v in verdicts):
            verdicts = [self._in_namespace_listing(plans[i], v, since) if v.outcome is Outcome.FAILED else v
                        for i, v in zip(todo, verdicts, strict=True)]
        for i, verdict in zip(todo, verdicts, strict=True):
            results[i] = verdict
        return [results[i] for i in range(len(plans))]

    def _check(self, plans: list[Plan], since: dt.datetime | None) -> list[CallResult]:
        wanted = [(p.call, exp) for p in plans for exp in p.required]

        def enough(entries: list[LogEntry]) -> bool:
            # Everything found: the pages further back (the slack before the oldest call) need not be read.
            return len(match(wanted, entries)) == len(wanted)

        read = self.reader.read(since, enough)
        if read.skipped is not None or read.failed is not None:
            outcome, why = (Outcome.SKIPPED, read.skipped) if read.skipped is not None else (Outcome.FAILED,
                                                                                             read.failed)
            return [CallResult(p.call.operation_id, outcome, str(why), p.call.test) for p in plans]
        found = match(wanted, read.entries)
        verdicts = []
        index = 0
        for p in plans:
            missing = [exp for k, exp in enumerate(p.required, start=index) if k not in found]
            index += len(p.required)
            if not missing:
                verdicts.append(CallResult(p.call.operation_id, Outcome.PASSED, p.call.label, p.call.test))
            elif not read.complete:
                verdicts.append(CallResult(p.call.operation_id, Outcome.ERROR,
                                           f"{p.call.label}: read {len(read.entries)} entries without reaching the "
                                           "call's time", p.call.test))
            else:
                verdicts.append(CallResult(p.call.operation_id, Outcome.FAILED,
                                           _explain(p.call, missing, read.entries), p.call.test))
        return verdicts


    def _in_namespace_listing(self, plan: Plan, verdict: CallResult, since: dt.datetime | None) -> CallResult:
        """Look for a call's entries once more in the own listing of each namespace they belong to, which Quay
        pages separately (so its pages are cut elsewhere): found there, the entry is in the target's log."""
        assert self.namespace_logs is not None
        entries: list[LogEntry] = []
        read_any = False
        for namespace in sorted({exp.namespace for exp in plan.required if exp.namespace}):
            for reader in self.namespace_logs(namespace, plan.call.caller):
                read = reader.read(since)
                if read.skipped is None and read.failed is None:
                    entries += read.entries
                    read_any = True
                    break
        if not read_any:
            return verdict
        wanted = [(plan.call, exp) for exp in plan.required]
        if len(match(wanted, entries)) == len(wanted):
            return CallResult(plan.call.operation_id, Outcome.PASSED,
                              f"{plan.call.label} (found in the namespace's own log listing)", plan.call.test)
        detail = verdict.detail + " (not in the namespace's own log listing either)"
        return CallResult(verdict.operation_id, verdict.outcome, detail[:DETAIL_LIMIT], verdict.test)


def _explain(call: MutatingCall, missing: list[Expected], entries: Sequence[LogEntry]) -> str:
    parts = []
    for exp in missing:
        near = [e for e in entries if set(exp.kinds) & {e.kind}
                and (exp.namespace is None or e.namespace in (exp.namespace, None))]
        if not near:
            near = [e for e in entries if exp.namespace is not None and e.namespace == exp.namespace]
        if near:
            nearest = near[0]
            parts.append(f"no {exp.describe()}; nearest: {nearest.describe()} "
                         f"[{', '.join(mismatches(exp, call, nearest))}]")
        else:
            parts.append(f"no {exp.describe()}; nothing of that kind or namespace in the log")
    text = f"{call.label}: " + " | ".join(parts)
    return text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + "..."
