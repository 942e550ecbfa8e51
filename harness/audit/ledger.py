"""The ledger of successful mutating calls, fed by httpx hooks on every QuayClient of a Target.

A call is recorded when it is a POST/PUT/PATCH/DELETE on /api/v1 that the catalog resolves to an operationId and
the target answered 2xx. With it go the caller (the persona the client belongs to), the path parameters, both
JSON bodies and the time window in the target's clock (its Date header), so the verifier can tell which log
entry belongs to which call. The pytest plugin opens the ledger at each test's setup and verifies it at teardown,
before any fixture cleans up; calls that would make logs unreadable (deleting or renaming a namespace, deleting a
repository or a user) first verify what is pending, so a test that deletes what it made is still checked."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from harness.catalog import Catalog
from harness.checks import Outcome
from harness.client import ANONYMOUS_EXTENSION, CALLER_EXTENSION, PARAMS_EXTENSION, SENT_EXTENSION
from harness.reporting.recorder import OPERATION_EXTENSION, seeding

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_PREFIX = "/api/v1/"
# Operations after which a log entry, its namespace or its performer may no longer be readable as it was: pending
# calls are verified before one of these is sent.
DESTRUCTIVE = frozenset({"deleteRepository", "deleteAdminedOrganization", "deleteOrganization", "deleteInstallUser",
                         "deleteCurrentUser", "convertUserToOrganization", "changeOrganization"})
# Larger batches are verified as they fill up (a Hypothesis test can make thousands of calls).
AUTO_FLUSH_AT = 200
# How far before the call the entry may be stamped: the Date header and log times have one-second resolution.
CLOCK_SLACK = dt.timedelta(seconds=2)
NO_DATE_SLACK = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class MutatingCall:
    """One successful mutating call, as the target saw it."""

    operation_id: str
    method: str
    path: str
    path_params: dict[str, str]
    body: Any
    status: int
    reply: Any
    caller: str | None  # the username behind the credentials; None when anonymous or unknown
    anonymous: bool
    test: str = ""
    seeding: bool = False
    earliest: dt.datetime | None = None  # the target's clock: no entry for this call is older than this

    @property
    def body_dict(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}

    @property
    def reply_dict(self) -> dict[str, Any]:
        return self.reply if isinstance(self.reply, dict) else {}

    def param(self, name: str) -> str:
        return self.path_params.get(name, "")

    @property
    def repo_parts(self) -> tuple[str, str]:
        """("namespace", "name") of the `repository` path parameter."""
        namespace, _, name = self.param("repository").partition("/")
        return namespace, name

    @property
    def label(self) -> str:
        who = self.caller or ("anonymous" if self.anonymous else "an unknown caller")
        return f"{self.operation_id} by {who} ({self.method} {self.path} -> {self.status})"


@dataclass(frozen=True)
class CallResult:
    """The verdict on one recorded call."""

    operation_id: str
    outcome: Outcome
    detail: str
    test: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"op": self.operation_id, "outcome": self.outcome.label, "detail": self.detail, "test": self.test}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallResult:
        return cls(str(data["op"]), Outcome[str(data["outcome"]).upper()], str(data.get("detail", "")),
                   str(data.get("test", "")))


Verify = Callable[[list[MutatingCall]], list[CallResult]]


def parse_json(content: bytes) -> Any:
    """A request's or answer's JSON body, None when it has none or it is not JSON."""
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


def _server_time(response: httpx.Response) -> dt.datetime | None:
    value = response.headers.get("date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _current_test() -> str:
    # pytest keeps "<nodeid> (<phase>)" here while a test runs; outside pytest it is absent.
    return os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]


class Ledger:
    """Records calls between `begin` and `finish`, verifies them in batches through `verify`, and keeps the results
    until they are taken. Without `verify` (the check switched off) nothing is recorded."""

    def __init__(self, catalog: Catalog, verify: Verify | None = None, *, auto_flush_at: int = AUTO_FLUSH_AT) -> None:
        self.catalog = catalog
        self.verify = verify
        self.auto_flush_at = auto_flush_at
        self.recording = False  # until `begin`: a Target used outside the suites records nothing
        self._pending: list[MutatingCall] = []
        self._results: list[CallResult] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.RLock()

    # -- hooks ---------------------------------------------------------------------------------------------------
    def operation_of(self, request: httpx.Request) -> tuple[str, dict[str, str]] | None:
        if request.method not in MUTATING or not request.url.path.startswith(API_PREFIX):
            return None
        op = request.extensions.get(OPERATION_EXTENSION)
        params = request.extensions.get(PARAMS_EXTENSION)
        if isinstance(op, str) and isinstance(params, dict):
            return op, params
        found = self.catalog.match(request.method, request.url.path)
        if found is None:
            return None
        info, matched = found
        return info.operation_id, matched

    def before_request(self, request: httpx.Request) -> None:
        """Request hook: verify what is pending before a call that would make it unverifiable."""
        if not self.recording or not self._pending:
            return
        resolved = self.operation_of(request)
        if resolved is not None and resolved[0] in DESTRUCTIVE:
            self.flush()

    def observe(self, response: httpx.Response) -> None:
        """Response hook: record a successful mutating call."""
        request = response.request
        if self.verify is None or not self.recording or not 200 <= response.status_code < 300:
            return
        resolved = self.operation_of(request)
        if resolved is None:
            return
        op, params = resolved
        response.read()
        # The entry is written while the request is handled: not before the answer's Date minus the round trip.
        # A Date header can lag (a busy server refreshes it late), which only widens the window; without one our
        # own clock stands in, with room for the clocks to disagree.
        answered = _server_time(response)
        slack = CLOCK_SLACK if answered is not None else NO_DATE_SLACK
        sent = request.extensions.get(SENT_EXTENSION)
        took = dt.timedelta(seconds=max(0.0, time.time() - sent)) if isinstance(sent, float) else None
        earliest = (answered or dt.datetime.now(dt.UTC)) - took - slack if took is not None else None
        caller = request.extensions.get(CALLER_EXTENSION)
        call = MutatingCall(
            operation_id=op, method=request.method, path=request.url.path, path_params=dict(params),
            body=parse_json(request.content), status=response.status_code, reply=parse_json(response.content),
            caller=caller if isinstance(caller, str) else None,
            anonymous=bool(request.extensions.get(ANONYMOUS_EXTENSION, False)), test=_current_test(),
            seeding=seeding.get(), earliest=earliest)
        with self._lock:
            self._pending.append(call)
            full = len(self._pending) >= self.auto_flush_at
        if full:
            self.flush()

    # -- the test's life -----------------------------------------------------------------------------------------
    def begin(self) -> None:
        """A test starts: forget calls made since the last one was verified (the previous test's cleanup)."""
        with self._lock:
            self._pending.clear()
            self._results.clear()
        self.recording = True

    def finish(self) -> None:
        """A test's body is over: verify everything, then stop recording (cleanup calls are not checked)."""
        self.flush()
        self.recording = False

    def pending(self) -> list[MutatingCall]:
        with self._lock:
            return list(self._pending)

    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                calls, self._pending = self._pending, []
            if not calls:
                return
            if self.verify is None:
                return
            try:
                results = self.verify(calls)
            except Exception as exc:  # our verifier broke: an ERROR, never a silent pass
                results = [CallResult(c.operation_id, Outcome.ERROR,
                                      f"verifying {c.label} raised {type(exc).__name__}: {exc}", c.test)
                           for c in calls]
            with self._lock:
                self._results.extend(results)

    def take_results(self) -> list[CallResult]:
        with self._lock:
            out, self._results = self._results, []
        return out


@dataclass
class AuditSummary:
    """Per-operation verdicts accumulated over a run (the controller's side)."""

    passed: dict[str, int] = field(default_factory=dict)
    tests: dict[str, set[str]] = field(default_factory=dict)
    others: dict[str, list[CallResult]] = field(default_factory=dict)

    def add(self, result: CallResult) -> None:
        self.tests.setdefault(result.operation_id, set()).add(result.test)
        if result.outcome is Outcome.PASSED:
            self.passed[result.operation_id] = self.passed.get(result.operation_id, 0) + 1
        else:
            self.others.setdefault(result.operation_id, []).append(result)

    def operations(self) -> list[str]:
        return sorted(set(self.passed) | set(self.others))

    def verdict(self, operation_id: str) -> tuple[Outcome, str]:
        """The operation's outcome (the worst of its calls; skipped calls do not hide passed ones) and why."""
        passed = self.passed.get(operation_id, 0)
        others = self.others.get(operation_id, [])
        tests = len(self.tests.get(operation_id, ()))
        bad = [r for r in others if r.outcome in (Outcome.FAILED, Outcome.ERROR)]
        outcome = max([Outcome.PASSED] * bool(passed) + [r.outcome for r in others], default=Outcome.SKIPPED)
        if bad:
            shown = "; ".join(f"{r.detail} [{r.test}]" for r in bad[:3])
            more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
            return outcome, f"{len(bad)} of {passed + len(others)} calls: {shown}{more}"
        if passed:
            return outcome, f"{passed} calls verified in {tests} tests"
        return outcome, others[0].detail if others else "no calls"
