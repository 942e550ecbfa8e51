"""Locust profiles for Quay's API. Run through `quay-harness load` (see load/README.md), or directly:

    QH_TOKEN=... locust -f load/locustfile.py --headless --host http://127.0.0.1:8080 --tags tag-listing

* Every request is named by its operationId and its URL comes from the target's own discovery document.
* A profile is a Locust tag; the tasks are the TASKS table below. A task whose operation the target's discovery
  lacks is dropped before users start, and the master says which and why.
* Seeding runs in `test_start` on the master (or the local runner), never inside tasks; it is idempotent.
* The stage table of the profile (load/profiles.yaml, or --qh-stages) drives `ProfileShape`; every run ends.
* At exit the master checks the SLO file (--qh-slo) and sets exit code 3 on a breach.
* The bearer token comes from QH_TOKEN in each process's environment: never an argument, because Locust ships
  arguments from the master to the workers and shows them in its web UI.
"""

# Locust first: importing it monkey-patches the process with gevent, which must happen before anything else
# creates sockets, threads or locks.
import locust  # isort: skip

# isort: split
import datetime as dt
import json
import logging
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
import httpx
from locust import HttpUser, LoadTestShape, events, tag
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.auth import BearerAuth
from harness.catalog import Catalog
from load import seed as seeding
from load import slo
from load.profiles import Profile, ProfileError, Stage, effective_stages, load_profiles, parse_stages, tick

log = logging.getLogger("quay-harness.load")
# One INFO line per seeding request would drown Locust's own output.
logging.getLogger("httpx").setLevel(logging.WARNING)
EXIT_CONFIG = 2
LOG_WINDOWS_DAYS = (1, 7, 30)  # aggregated logs accept at most 31 days
MAX_LOG_PAGES = 5  # how far one task walks next_page
DRAIN_SECONDS = 4.0  # > Locust's WORKER_REPORT_INTERVAL (3 s)


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    # Not secrets, so they may travel to the workers (Locust sends custom arguments with every spawn message).
    group = parser.add_argument_group("quay-harness")
    group.add_argument("--qh-profile", default=os.environ.get("QH_LOAD_PROFILE", ""),
                       help="Profile for seeding and stages (default: the first --tags value naming one).")
    group.add_argument("--qh-seed", default=os.environ.get("QH_LOAD_SEED", "1"),
                       help="Seed naming the seeded organization and repositories.")
    group.add_argument("--qh-tags", type=int, default=int(os.environ.get("QH_LOAD_TAGS", "0") or 0),
                       help="Seed repositories with 100, 1000 ... up to this many tags (0 = the profile's).")
    group.add_argument("--qh-log-events", type=int,
                       default=int(os.environ.get("QH_LOAD_LOG_EVENTS", "0") or 0),
                       help="Seed an audit history of this many entries (0 = the profile's).")
    group.add_argument("--qh-stages", default=os.environ.get("QH_LOAD_STAGES", ""),
                       help="A JSON stage table replacing the profile's.")
    group.add_argument("--qh-slo", default=os.environ.get("QH_LOAD_SLO", ""), help="SLO YAML checked at exit.")
    group.add_argument("--qh-summary", default=os.environ.get("QH_LOAD_SUMMARY", ""),
                       help="Write skipped tasks and the SLO result here as JSON.")
    group.add_argument("--qh-seed-concurrency", type=int, default=seeding.DEFAULT_CONCURRENCY,
                       help="Requests in flight while seeding.")


# -- per-process state -------------------------------------------------------------------------------------------
@dataclass
class _State:
    catalog: Catalog | None = None
    profile: Profile | None = None
    plan: seeding.SeedPlan | None = None
    token: str = ""
    skipped: dict[str, list[str]] | None = None  # operationId -> task names dropped because it is absent
    active_tasks: list[str] | None = None
    error: str | None = None  # why the run was stopped before it began


STATE = _State()


def _profile_for(environment: Environment) -> Profile:
    options = environment.parsed_options
    profiles = load_profiles()
    name = getattr(options, "qh_profile", "") or ""
    if not name:
        for candidate in getattr(options, "tags", None) or []:
            if candidate in profiles:
                name = candidate
                break
    if name not in profiles:
        raise ProfileError(f"unknown profile {name!r}; choose --tags from {', '.join(profiles)}")
    return profiles[name]


def _configure(environment: Environment) -> None:
    """Build the profile, the seed plan and the catalog for this process (master, worker or local)."""
    if STATE.catalog is not None:
        return
    options = environment.parsed_options
    if not environment.host:
        raise ProfileError("no target: pass --host")
    STATE.profile = _profile_for(environment)
    STATE.plan = seeding.SeedPlan.for_profile(STATE.profile, str(getattr(options, "qh_seed", "1")),
                                              getattr(options, "qh_tags", 0) or None,
                                              getattr(options, "qh_log_events", 0) or None)
    STATE.token = os.environ.get("QH_TOKEN", "")
    if not STATE.token:
        raise ProfileError("QH_TOKEN is not set in this process's environment")
    with httpx.Client(base_url=environment.host, timeout=30.0) as http:
        STATE.catalog = Catalog.from_target(http)


# -- the user --------------------------------------------------------------------------------------------------
class QuayUser(HttpUser):
    """One API client. Its tasks come from TASKS, filtered by profile tag and by the target's discovery."""

    abstract = False

    def wait_time(self) -> float:
        low, high = STATE.profile.wait if STATE.profile else (0.0, 0.0)
        return random.uniform(low, high)

    def on_start(self) -> None:
        # Sent as a header rather than through an auth object so Locust never formats the token into output.
        self.client.headers["Authorization"] = f"Bearer {STATE.token}"

    @property
    def plan(self) -> seeding.SeedPlan:
        assert STATE.plan is not None
        return STATE.plan

    def call(self, operation_id: str, *, params: dict[str, Any] | None = None, json_body: Any = None,
             **path: Any) -> Any:
        assert STATE.catalog is not None
        method, url = STATE.catalog.resolve(operation_id, **path)
        return self.client.request(method, url, name=operation_id, params=params, json=json_body)


# -- tasks -----------------------------------------------------------------------------------------------------
def _tag_repo(user: QuayUser) -> tuple[str, int]:
    count = random.choice(user.plan.tag_counts)
    return user.plan.tag_repo(count), count


def tags_first_page(user: QuayUser) -> None:
    repository, _ = _tag_repo(user)
    user.call("listRepoTags", repository=repository, params={"page": 1, "limit": random.choice((50, 100))})


def tags_deep_page(user: QuayUser) -> None:
    repository, count = _tag_repo(user)
    limit = random.choice((50, 100))
    pages = max(1, math.ceil(count / limit))
    # The back half of the listing: offset pagination makes these the expensive pages.
    user.call("listRepoTags", repository=repository,
              params={"page": random.randint(max(1, pages // 2), pages), "limit": limit})


def tags_specific(user: QuayUser) -> None:
    repository, count = _tag_repo(user)
    user.call("listRepoTags", repository=repository,
              params={"specificTag": seeding.SeedPlan.tag_name(random.randrange(count))})


def tags_active_only(user: QuayUser) -> None:
    repository, count = _tag_repo(user)
    pages = max(1, math.ceil(count / 100))
    user.call("listRepoTags", repository=repository,
              params={"onlyActiveTags": "true", "limit": 100, "page": random.randint(1, pages)})


def _window(days: int) -> dict[str, str]:
    # Quay reads %m/%d/%Y as midnight UTC and adds a day to the end date.
    today = dt.datetime.now(dt.UTC).date()
    return {"starttime": (today - dt.timedelta(days=days)).strftime("%m/%d/%Y"), "endtime": today.strftime("%m/%d/%Y")}


def _walk(user: QuayUser, operation_id: str, **path: Any) -> None:
    params: dict[str, Any] = _window(random.choice(LOG_WINDOWS_DAYS))
    for _ in range(MAX_LOG_PAGES):
        response = user.call(operation_id, params=params, **path)
        if response.status_code != 200:
            return
        try:
            token = response.json().get("next_page")
        except ValueError:
            return
        if not token:
            return
        params = {**params, "next_page": token}


def repo_logs(user: QuayUser) -> None:
    _walk(user, "listRepoLogs", repository=user.plan.log_repo)


def org_logs(user: QuayUser) -> None:
    _walk(user, "listOrgLogs", orgname=user.plan.org)


def user_logs(user: QuayUser) -> None:
    _walk(user, "listUserLogs")


def aggregate_repo_logs(user: QuayUser) -> None:
    user.call("getAggregateRepoLogs", repository=user.plan.log_repo, params=_window(random.choice((7, 30))))


def aggregate_org_logs(user: QuayUser) -> None:
    user.call("getAggregateOrgLogs", orgname=user.plan.org, params=_window(random.choice((7, 30))))


def aggregate_user_logs(user: QuayUser) -> None:
    user.call("getAggregateUserLogs", params=_window(random.choice((7, 30))))


def change_tag(user: QuayUser) -> None:
    repository = random.choice(user.plan.write_repo_names)
    user.call("changeTag", repository=repository, tag=f"w{random.randrange(100):03d}",
              json_body={"manifest_digest": seeding.IMAGE.digest})


def update_repo(user: QuayUser) -> None:
    repository = random.choice(user.plan.write_repo_names)
    user.call("updateRepo", repository=repository, json_body={"description": f"load {random.randrange(10**6)}"})


def discovery(user: QuayUser) -> None:
    user.call("discovery")


def get_repo(user: QuayUser) -> None:
    user.call("getRepo", repository=random.choice(user.plan.plain_repos))


def list_repos(user: QuayUser) -> None:
    user.call("listRepos", params={"namespace": user.plan.org})


@dataclass(frozen=True)
class LoadTask:
    """One row of the task table: what runs, which operations it needs, in which profiles, how often."""

    run: Callable[[QuayUser], None]
    operations: tuple[str, ...]
    profiles: tuple[str, ...]
    weight: int = 1

    @property
    def name(self) -> str:
        return self.run.__name__


TAGS = ("tag-listing", "mixed")
LOGS = ("log-queries", "mixed")
TASKS: tuple[LoadTask, ...] = (
    LoadTask(tags_first_page, ("listRepoTags",), TAGS, 4),
    LoadTask(tags_deep_page, ("listRepoTags",), TAGS, 3),
    LoadTask(tags_specific, ("listRepoTags",), TAGS, 2),
    LoadTask(tags_active_only, ("listRepoTags",), TAGS, 2),
    LoadTask(repo_logs, ("listRepoLogs",), LOGS, 3),
    LoadTask(org_logs, ("listOrgLogs",), LOGS, 2),
    LoadTask(user_logs, ("listUserLogs",), LOGS, 1),
    LoadTask(aggregate_repo_logs, ("getAggregateRepoLogs",), LOGS, 1),
    LoadTask(aggregate_org_logs, ("getAggregateOrgLogs",), LOGS, 1),
    LoadTask(aggregate_user_logs, ("getAggregateUserLogs",), LOGS, 1),
    LoadTask(change_tag, ("changeTag",), ("mixed",), 2),
    LoadTask(update_repo, ("updateRepo",), ("mixed",), 1),
    LoadTask(discovery, ("discovery",), ("smoke",), 1),
    LoadTask(get_repo, ("getRepo",), ("smoke",), 3),
    LoadTask(list_repos, ("listRepos",), ("smoke",), 2),
)
_BY_FUNCTION = {t.run: t for t in TASKS}
# A list with each task repeated by its weight: that is the form Locust's metaclass would have made of a dict,
# and assigning after the class exists bypasses the metaclass.
QuayUser.tasks = [tagged for t in TASKS for tagged in [tag(*t.profiles)(t.run)] * t.weight]


def _idle(user: QuayUser) -> None:
    # Stands in when no task is left (Locust fails to start a user without tasks); the master stops the run.
    gevent.sleep(1)


def _drop_absent_operations(catalog: Catalog) -> None:
    """After Locust's tag filter: keep the tasks whose operations the target has, record the others."""
    kept: list[Any] = []
    skipped: dict[str, list[str]] = {}
    names: set[str] = set()
    for function in QuayUser.tasks:
        task = _BY_FUNCTION.get(function)  # type: ignore[arg-type]
        if task is None:
            continue
        absent = [op for op in task.operations if op not in catalog]
        if absent:
            for op in absent:
                skipped.setdefault(op, [])
                if task.name not in skipped[op]:
                    skipped[op].append(task.name)
        else:
            kept.append(function)
            names.add(task.name)
    QuayUser.tasks = kept or [_idle]
    STATE.skipped = skipped
    STATE.active_tasks = sorted(names)


def _stop(environment: Environment, message: str) -> None:
    log.error("quay-harness load: %s", message)
    STATE.error = message
    environment.process_exit_code = EXIT_CONFIG
    if environment.runner is not None:
        # Quit from a fresh greenlet: test_start is fired from inside runner.start.
        gevent.spawn_later(0, environment.runner.quit)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    try:
        _configure(environment)
    except (ProfileError, seeding.SeedError, OSError, ValueError) as exc:
        _stop(environment, str(exc))
        return
    except Exception as exc:  # HarnessError from the catalog: an unreachable or non-Quay target
        _stop(environment, str(exc).splitlines()[0])
        return
    assert STATE.catalog is not None and STATE.profile is not None and STATE.plan is not None
    _drop_absent_operations(STATE.catalog)
    if isinstance(environment.runner, WorkerRunner):
        return
    profile = STATE.profile.name
    for op, tasks in sorted((STATE.skipped or {}).items()):
        log.warning("profile %s: skipping task(s) %s: the target's discovery has no %s", profile,
                    ", ".join(tasks), op)
    if not STATE.active_tasks:
        _stop(environment, f"profile {profile}: none of its operations exist on the target "
                           f"(missing: {', '.join(sorted(STATE.skipped or {}))})")
        return
    log.info("profile %s: running %s", profile, ", ".join(STATE.active_tasks))
    try:
        with httpx.Client(base_url=environment.host or "", auth=BearerAuth(STATE.token), timeout=60.0) as http:
            report = seeding.Seeder(http, STATE.catalog, STATE.token,
                                    concurrency=getattr(environment.parsed_options, "qh_seed_concurrency", 16),
                                    log=log.info).run(STATE.plan)
        log.info("seed %s: %d object(s) created", STATE.plan.seed, report.created)
    except (seeding.SeedError, httpx.HTTPError) as exc:
        _stop(environment, f"seeding failed: {exc}")


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    options = environment.parsed_options
    summary: dict[str, Any] = {"profile": STATE.profile.name if STATE.profile else None,
                               "skipped": STATE.skipped or {}, "tasks": STATE.active_tasks or [],
                               "error": STATE.error}
    slo_path = getattr(options, "qh_slo", "")
    if slo_path and STATE.profile is not None and environment.process_exit_code != EXIT_CONFIG:
        try:
            spec = slo.load_slo(Path(slo_path), STATE.profile.name)
        except slo.SloError as exc:
            _stop(environment, str(exc))
        else:
            total, rows = slo.from_locust(environment.stats, spec.quantiles())
            report = slo.evaluate(spec, STATE.profile.name, total, rows)
            print(report.render(), flush=True)
            summary["slo"] = report.as_dict()
            runner = environment.runner
            if report.breached:
                environment.process_exit_code = slo.EXIT_BREACH
            elif (runner is not None and runner.errors and not runner.exceptions
                  and slo.tolerates_errors(spec, total)):
                # The SLO names an error budget and the run stayed within it: failures are not the run's failure.
                environment.process_exit_code = 0
    summary["exit_code"] = environment.process_exit_code
    target = getattr(options, "qh_summary", "")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(json.dumps(summary, indent=2) + "\n")


# -- the shape -------------------------------------------------------------------------------------------------
class ProfileShape(LoadTestShape):
    """The profile's stage table (or --qh-stages), cut at --run-time; returns None when it is over, which ends
    the run. Reads --run-time itself, hence use_common_options."""

    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self._stages: tuple[Stage, ...] | None = None

    def stages(self) -> tuple[Stage, ...]:
        if self._stages is None:
            assert self.runner is not None
            environment = self.runner.environment
            options = environment.parsed_options
            raw = getattr(options, "qh_stages", "")
            profile = _profile_for(environment)
            base = Profile(profile.name, profile.description, parse_stages(json.loads(raw), "--qh-stages"),
                           profile.wait, profile.seed) if raw else profile
            # Only --run-time is honoured: headless Locust fills in -u/-r defaults, so their presence says
            # nothing about what the user asked; a flat load is spelled as a one-row --qh-stages table.
            run_time = getattr(options, "run_time", None)
            self._stages = effective_stages(base, run_time=float(run_time) if run_time else None)
        return self._stages

    def tick(self) -> tuple[int, float] | None:
        stages = self.stages()
        elapsed = self.get_run_time()
        current = tick(stages, elapsed)
        # A headless master quits without waiting for the workers' last statistics (they report every
        # WORKER_REPORT_INTERVAL seconds), so short runs would lose their tail: stop the users first and quit
        # once one more report has had time to arrive. Throughput is unaffected: Locust divides by the time up
        # to the last request.
        if (current is None and isinstance(self.runner, MasterRunner)
                and elapsed < sum(s.duration for s in stages) + DRAIN_SECONDS):
            return 0, 100.0
        return current


__all__ = ["ProfileShape", "QuayUser", "locust"]
