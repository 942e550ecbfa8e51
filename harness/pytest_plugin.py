"""The pytest plugin (entry point `quay_harness`): fixtures, markers, outcome recording, results.yaml.

Fixtures: `harness_config` (HarnessConfig), `target` (Target: config, catalog, admin/anon clients; starts the
reference server when no target URL is configured), `catalog`, `admin`, `anon` (QuayClient), `world` (a World
cleaned up after the test). Markers: `operation(*ids)` (the operationIds a test checks; the test is skipped when
the target lacks one) and `area(name)`. Every suite test is also held to the audit-log invariant (harness/audit/):
its successful mutating calls are checked against the target's log at teardown, one result per operation.

The plugin is loaded in every pytest run of this environment (our unit tests too), so nothing here starts a
server or reads settings until a fixture or a marked test asks for it."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from harness.audit.ledger import AuditSummary, CallResult
from harness.catalog import Catalog
from harness.checks import DISABLED_PREFIX, Outcome, TargetMismatch, classify, worst
from harness.client import QuayClient, take_called_operations
from harness.config import HarnessConfig, load_config
from harness.errors import ConfigError, MissingCredential, UnknownOperation
from harness.profile import load_profile, save_profile
from harness.reporting.recorder import Exchange
from harness.reporting.results import TestResult, aggregate, write_html, write_results
from harness.world import Target, World

# Hypothesis budgets live here, by name; suites never hard-code counts. Network round-trips make per-example
# deadlines meaningless, and function-scoped fixtures (world) are deliberate.
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
settings.register_profile("dev", max_examples=10, deadline=None, suppress_health_check=_SLOW_OK)
settings.register_profile("ci", max_examples=50, deadline=None, suppress_health_check=_SLOW_OK,
                          derandomize=True, database=None, print_blob=True)
settings.register_profile("thorough", max_examples=500, deadline=None, suppress_health_check=_SLOW_OK)

# The audit-log verdicts of a test travel on its teardown report under this user property; per operation they
# become results of this area.
AUDIT_PROPERTY = "qh_audit"
AUDIT_AREA = "audit-log"

_config_key = pytest.StashKey[HarnessConfig]()
_started_key = pytest.StashKey[float]()
_target_key = pytest.StashKey[Target]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("quay-harness")
    group.addoption("--qh-config", default=None, help="harness settings YAML (QH_* variables still win)")
    group.addoption("--qh-results", default=None,
                    help="write results.yaml (and report.html beside it) to this path")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "operation(*ids): the Quay operationIds a test exercises")
    config.addinivalue_line("markers", "area(name): the API area a test belongs to")
    config.stash[_started_key] = time.time()
    profile = os.environ.get("QH_HYPOTHESIS_PROFILE")
    if profile:
        settings.load_profile(profile)
    # SIGTERM (CI cancelling a job) becomes KeyboardInterrupt, so pytest tears fixtures down and Worlds clean up.
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _sigterm)


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _harness_config(config: pytest.Config) -> HarnessConfig:
    if _config_key not in config.stash:
        path = config.getoption("--qh-config")
        try:
            config.stash[_config_key] = load_config(Path(path) if path else None)
        except ConfigError as exc:
            raise pytest.UsageError(f"quay-harness: {exc}") from None
    return config.stash[_config_key]


def _worker() -> str | None:
    return os.environ.get("PYTEST_XDIST_WORKER")


def _is_suite_item(item: pytest.Item) -> bool:
    """Suite tests check a target; our unit tests (tests/) carry the same markers but never get a target."""
    return "suites" in Path(str(item.path)).parts


def _marked_operations(item: pytest.Item) -> list[str]:
    ops: list[str] = []
    for mark in item.iter_markers("operation"):
        ops.extend(str(a) for a in mark.args)
    return list(dict.fromkeys(ops))


def _area(item: pytest.Item, catalog: Catalog | None = None) -> str:
    mark = item.get_closest_marker("area")
    if mark and mark.args:
        return str(mark.args[0])
    if catalog is not None:
        for op in _marked_operations(item):
            area = catalog.area_of(op)
            if area:
                return area
    stem = Path(str(item.path)).stem
    return stem.removeprefix("test_")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    suite_items = [i for i in items if _is_suite_item(i)]
    if not suite_items:
        return
    cfg = _harness_config(config)
    areas, ops = set(cfg.disabled_areas), set(cfg.disabled_operations)
    if not areas and not ops:
        return
    for item in suite_items:
        area = _area(item)
        off = sorted(set(_marked_operations(item)) & ops)
        if area in areas:
            item.add_marker(pytest.mark.skip(reason=f"{DISABLED_PREFIX} area {area!r} is switched off"))
        elif off:
            item.add_marker(pytest.mark.skip(reason=f"{DISABLED_PREFIX} operation(s) {', '.join(off)} switched off"))


# -- fixtures -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def harness_config(pytestconfig: pytest.Config) -> HarnessConfig:
    return _harness_config(pytestconfig)


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config, harness_config: HarnessConfig) -> Iterator[Target]:
    """The target for this process. Without a configured URL (the plugin used on its own) it starts the reference
    server on a free port and a temporary database, and creates the superuser over HTTP. The target's profile is
    written beside the results (profile.yaml) by the first process that reads it."""
    cfg = harness_config
    server = None
    if cfg.target_url is None:
        from harness.server import start_for_run

        server, settings_ = start_for_run(cfg)
        cfg = cfg.model_copy(update={k: _secret(v) if k in ("token", "password", "readonly_password") else v
                                     for k, v in settings_.items()})
    try:
        tgt = Target.connect(cfg, worker=_worker())
    except Exception:
        if server is not None:
            server.stop()
        raise
    save_profile(tgt.profile, cfg.run_dir)
    tgt.recorder.sinks.append(_allure_sink)
    tgt.audit.begin()  # the test that made the target is the first one whose calls are checked
    pytestconfig.stash[_target_key] = tgt
    try:
        yield tgt
    finally:
        tgt.close()
        if server is not None:
            server.stop()


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


@pytest.fixture(scope="session")
def catalog(target: Target) -> Catalog:
    return target.catalog


@pytest.fixture(scope="session")
def admin(target: Target) -> QuayClient:
    """The superuser, with every scope."""
    return target.admin


@pytest.fixture(scope="session")
def anon(target: Target) -> QuayClient:
    """No credentials at all."""
    return target.anon


@pytest.fixture
def world(target: Target) -> Iterator[World]:
    """Seeding for one test; everything it made is deleted after the test, newest first."""
    w = World(target)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture(autouse=True)
def _qh_operation_gate(request: pytest.FixtureRequest) -> None:
    """Skip a test whose marked operations the target does not offer (SKIPPED: the target lacks the feature)."""
    ops = _marked_operations(request.node)
    if not ops or not _is_suite_item(request.node):
        return
    tgt: Target = request.getfixturevalue("target")
    missing = [op for op in ops if op not in tgt.catalog]
    if missing:
        pytest.skip(f"the target's discovery has no {', '.join(missing)}")


def _allure_sink(exchange: Exchange) -> None:
    try:
        import allure
    except ImportError:  # allure-pytest is a dependency, but the harness library must not need it
        return
    allure.attach(exchange.render(), name=exchange.title, attachment_type=allure.attachment_type.TEXT)


# -- outcomes -----------------------------------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """A plain `assert` that fails says only what it compared ("assert False is True"). Put the claim the test makes
    about Quay (its docstring or name) and the last request it made before it, so every failure says in words what
    Quay does, and on which request the target did otherwise. TargetMismatch messages already do."""
    try:
        return (yield)
    except AssertionError as exc:
        if _is_suite_item(item) and not isinstance(exc, TargetMismatch):
            exc.args = (_explained(item, exc),)
        raise


def _explained(item: pytest.Item, exc: AssertionError) -> str:
    function = getattr(item, "function", None)
    doc = (getattr(function, "__doc__", None) or "").strip().split("\n\n", 1)[0]
    name = getattr(item, "originalname", None) or item.name.split("[", 1)[0]
    claim = " ".join(doc.split()) if doc else name.removeprefix("test_").replace("_", " ")
    lines = [f"Quay: {claim}"]
    tgt = item.config.stash.get(_target_key, None)
    recent = [e for e in tgt.recorder.recent() if not e.seeding] if tgt is not None else []
    if recent:
        last = recent[-1]
        lines.append(f"last request: {last.title} {last.response_body[:300]}")
    detail = str(exc.args[0]) if exc.args else str(exc)
    lines.append(f"failed check: {detail}")
    return "\n".join(lines)


def pytest_runtest_setup(item: pytest.Item) -> None:
    take_called_operations()  # forget calls made before this test
    tgt = item.config.stash.get(_target_key, None)
    if tgt is not None:
        tgt.recorder.clear()
        tgt.audit.begin()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
    """The audit-log invariant: before any fixture cleans up (namespaces still exist, performers too), check that
    every successful mutating call of the test's setup and body is in the target's log. The verdicts travel on
    the teardown report (see pytest_runtest_makereport) and count per operation in area "audit-log"."""
    tgt = item.config.stash.get(_target_key, None)
    if tgt is not None and _is_suite_item(item):
        tgt.audit.finish()
        # What the test's own calls created outside the run's namespaces (harness/tracking.py) goes now.
        tgt.tracker.undo()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    if not _is_suite_item(item):
        return report
    if call.when == "teardown":
        _attach_audit(item, report)
    exc = call.excinfo.value if call.excinfo is not None else None
    if isinstance(exc, UnknownOperation | MissingCredential):
        # The target's discovery lacks an operation the test needed (the target lacks the feature), or the run
        # lacks a credential it needs: nothing was checked, and nobody is at fault.
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {exc}")
    outcome: Outcome | None = None
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        outcome = Outcome.DISABLED if reason.removeprefix("Skipped: ").startswith(DISABLED_PREFIX) \
            else Outcome.SKIPPED
        report.user_properties.append(("qh_reason", reason.removeprefix("Skipped: ")))
    elif report.failed:
        outcome = classify(exc) if exc is not None else Outcome.FAILED
    elif call.when == "call":
        outcome = Outcome.PASSED
    if outcome is not None:
        report.user_properties.append(("qh_outcome", outcome.label))
    if call.when == "call":
        tgt = item.config.stash.get(_target_key, None)
        ops = _marked_operations(item) or take_called_operations()
        report.user_properties.append(("qh_operations", " ".join(ops)))
        report.user_properties.append(("qh_area", _area(item, tgt.catalog if tgt else None)))
        if report.failed and tgt is not None:
            transcript = "\n\n".join(e.render() for e in tgt.recorder.recent())
            if transcript:
                report.sections.append(("quay-harness http (redacted)", transcript))
    elif call.when == "setup" and report.skipped:
        report.user_properties.append(("qh_area", _area(item)))
    return report


def _attach_audit(item: pytest.Item, report: pytest.TestReport) -> None:
    tgt = item.config.stash.get(_target_key, None)
    results = tgt.audit.take_results() if tgt is not None else []
    if not results:
        return
    report.user_properties.append((AUDIT_PROPERTY, json.dumps([r.to_json() for r in results])))
    bad = [r for r in results if r.outcome in (Outcome.FAILED, Outcome.ERROR)]
    if bad:
        report.sections.append(("quay-harness audit log", "\n".join(f"{r.outcome.label}: {r.detail}" for r in bad)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    props = dict(p for p in report.user_properties if isinstance(p, tuple) and len(p) == 2)
    if AUDIT_PROPERTY in props:
        for raw in json.loads(str(props.pop(AUDIT_PROPERTY))):
            _audit.add(CallResult.from_json(raw))
    if not any(str(k).startswith("qh_") for k in props):
        return
    result = _session_results.setdefault(report.nodeid, TestResult(report.nodeid, Outcome.PASSED, ""))
    result.duration += report.duration
    if "qh_outcome" in props:
        # Passed setup/teardown phases carry no outcome, so the worst phase outcome is the test's outcome.
        phases = _phase_outcomes.setdefault(report.nodeid, [])
        phases.append(Outcome[str(props["qh_outcome"]).upper()])
        result.outcome = worst(*phases)
    if "qh_area" in props:
        result.area = str(props["qh_area"])
    if "qh_operations" in props:
        result.operations = [o for o in str(props["qh_operations"]).split() if o]
    if "qh_reason" in props:
        result.reason = str(props["qh_reason"])


# Results collected in this process (the controller receives every worker's reports through xdist).
_session_results: dict[str, TestResult] = {}
_phase_outcomes: dict[str, list[Outcome]] = {}
_audit = AuditSummary()


def _audit_results() -> list[TestResult]:
    """One result per operation the suites called: the audit-log invariant over all its calls."""
    out = []
    for op in _audit.operations():
        outcome, reason = _audit.verdict(op)
        out.append(TestResult(f"{AUDIT_AREA}::{op}", outcome, AUDIT_AREA, [op], reason))
    return out


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _worker() is not None or not _audit.operations():
        return
    results = _audit_results()
    counts = {o: sum(1 for r in results if r.outcome is o) for o in Outcome}
    terminalreporter.section("quay-harness audit log")
    terminalreporter.line(f"{len(results)} operations: {counts[Outcome.PASSED]} verified, "
                          f"{counts[Outcome.FAILED]} failed, {counts[Outcome.ERROR]} error, "
                          f"{counts[Outcome.SKIPPED]} not logged by Quay or not checkable")
    for r in results:
        if r.outcome in (Outcome.FAILED, Outcome.ERROR):
            terminalreporter.line(f"{r.outcome.label.upper()} {r.operations[0]}: {r.reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _worker() is not None:
        return
    audit = _audit_results()
    if any(r.outcome in (Outcome.FAILED, Outcome.ERROR) for r in audit) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    for result in audit:
        _session_results[result.nodeid] = result
    path = session.config.getoption("--qh-results")
    if not path:
        return
    cfg = _harness_config(session.config)
    data = aggregate(_session_results.values(), run_id=cfg.run_id, target=cfg.target_url or "reference server",
                     started=session.config.stash.get(_started_key, time.time()))
    profile = load_profile(cfg.run_dir)
    if profile is not None:
        data["profile"] = profile
    results_path = Path(path)
    write_results(data, results_path)
    write_html(data, results_path.with_name("report.html"))
